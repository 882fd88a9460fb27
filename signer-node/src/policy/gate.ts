// The policy gate inside every signer node (DESIGN §1 steps 2–5, §5; signer-node/docs/policy-api.md).
// Before this node lends its share to a signature (`authorizeSign`, on the coordinator and on every
// member) it decides for itself, with its own clock, its own policy versions, its own screening and its
// own view of the limit history:
//   1. parse the bundle strictly; decode the unsigned transaction itself; decoded intent = claimed
//      intent = the client's description;
//   2. the threshold key's address at the path is the sender (raw digests: the policy wallet names it);
//   3. the session's message is the transaction's signing digest (raw digests: the digest);
//   4. the request digest is recomputed;
//   5. submittedAtMs is within 5 minutes of when this node first saw the request;
//   6. @coffer/policy under the version active at submittedAtMs, with screening, receipts + requests
//      authorized but not complete, the bundle's approvals, and its vetoes together with every veto this
//      node received itself (a coordinator cannot sign past a veto by leaving it out of the bundle);
//   7. only `allow` signs; every decision is stored with its trace and audited.
// A node without a `policy` section refuses every signature.

import type { Veto } from '@coffer/policy/approvals';
import { assetKey, type PolicyDocument } from '@coffer/policy/document';
import type { ScreeningResult } from '@coffer/policy/evaluate';
import { type Decision, type DecisionReason, evaluate, type LimitHistory } from '@coffer/policy/evaluate';
import { evaluateUnderGovernance } from '@coffer/policy/governance';
import { requestDigest } from '@coffer/policy/request';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/log.ts';
import type { NodeConfig } from '../config/config.ts';
import type { AuthorizationResult, SignAuthorization, SignedEvent } from '../sessions/manager.ts';
import type { NodeDatabase } from '../storage/db.ts';
import type { WalletStore } from '../store/wallets.ts';
import {
  BundleError,
  checkBundle,
  parseBundle,
  type RequestBundle,
  rawDigestAddresses,
  sameAddress,
} from './bundle.ts';
import { PolicyGovernance, type VersionView } from './governance.ts';
import { type ReceiptBody, ReceiptBook, toEngineReceipt } from './receipts.ts';
import { callScreeningHook, Denylist } from './screening.ts';

/** A request older (or newer) than this, relative to when this node first saw it, is refused. */
export const FRESHNESS_MS = 5 * 60_000;

export interface GateDeps {
  config: NodeConfig;
  db: NodeDatabase;
  audit: AuditLog;
  log: Logger;
  wallets: WalletStore;
  /** This node's identity key (receipts). */
  sign: (message: Uint8Array) => Promise<Uint8Array>;
  identityPublicKey: string;
  sendNotice: (peer: string, topic: string, body: string) => Promise<void>;
  clock?: () => number;
}

export interface EvaluateOptions {
  nowMs: number;
  /** Dry run: nothing is stored, audited or remembered. */
  dryRun: boolean;
  /** The signing session this evaluation decides (authorizeSign). */
  sessionId?: string;
  /** The session's message: required to equal the signing digest (step 3). */
  message?: Uint8Array;
}

export class PolicyGate {
  readonly governance: PolicyGovernance | undefined;
  readonly receipts: ReceiptBook;
  private readonly denylist: Denylist | undefined;
  private readonly clock: () => number;
  private localVetoes: (requestId: string) => Veto[] = () => [];

  constructor(private readonly d: GateDeps) {
    this.clock = d.clock ?? Date.now;
    const policy = d.config.policy;
    this.governance = policy
      ? new PolicyGovernance(d.db, d.audit, d.config.nodeId, policy, policy.initialVersionFile)
      : undefined;
    this.denylist = policy?.denylistFile ? new Denylist(policy.denylistFile) : undefined;
    const identityKeys = new Map(d.config.peers.map((p) => [p.id, p.identityKey]));
    identityKeys.set(d.config.nodeId, d.identityPublicKey);
    this.receipts = new ReceiptBook({
      db: d.db,
      audit: d.audit,
      log: d.log,
      nodeId: d.config.nodeId,
      identityKeys,
      sign: d.sign,
      sendNotice: d.sendNotice,
      peers: () => d.config.peers.map((p) => p.id),
    });
  }

  /** Installs the configured first policy version if the database has none (throws if it does not verify). */
  start(): void {
    this.governance?.installInitial(this.clock());
  }

  /**
   * Where this node keeps the vetoes it received for a request (the request service's copy). They are
   * evaluated with the bundle's own, so a veto that reached this node counts even when the coordinator's
   * bundle omits it; the engine verifies each one.
   */
  useLocalVetoes(source: (requestId: string) => Veto[]): void {
    this.localVetoes = source;
  }

  /** The policy document in force at `timeMs` (undefined: none, or no policy configured). */
  policyAt(timeMs: number): PolicyDocument | undefined {
    return this.governance?.active(timeMs)?.policy;
  }

  /** Records when this node first saw `requestId`; returns that time. */
  noteSeen(requestId: string, atMs: number): number {
    this.d.db
      .prepare('INSERT OR IGNORE INTO policy_requests_seen (request_id, first_seen_at_ms) VALUES (?, ?)')
      .run(requestId, atMs);
    return (
      this.d.db
        .prepare('SELECT first_seen_at_ms AS t FROM policy_requests_seen WHERE request_id = ?')
        .get(requestId) as { t: number }
    ).t;
  }

  // ---- governance ----

  /** `POST /v1/policy/versions` and notice `policy.version`: verify, record, forward if new. */
  submitVersion(value: unknown, source: string, forward: boolean): VersionView {
    if (!this.governance) throw new Error('no policy configured on this node');
    const { view, isNew } = this.governance.submit(value, source, this.clock());
    if (isNew && forward) {
      const wire = this.governance.wireOf(view.version, view.digest);
      const body = JSON.stringify(wire);
      for (const peer of this.d.config.peers)
        this.d
          .sendNotice(peer.id, 'policy.version', body)
          .catch((e) =>
            this.d.log.warn({ peer: peer.id, err: (e as Error).message }, 'policy version not forwarded'),
          );
    }
    return view;
  }

  policyView() {
    return this.governance?.view(this.clock()) ?? { active: null, versions: [] };
  }

  // ---- evaluation ----

  private denial(
    bundle: Pick<RequestBundle, 'request'> | undefined,
    reasons: DecisionReason[],
    nowMs: number,
  ): Decision {
    const active = bundle ? this.governance?.active(bundle.request.submittedAtMs) : undefined;
    let digest = '';
    try {
      digest = bundle ? requestDigest(bundle.request) : '';
    } catch {
      digest = '';
    }
    return {
      outcome: 'deny',
      policyVersion: active?.policy.version ?? 0,
      policyDigest: active?.digest ?? '',
      requestDigest: digest,
      evaluatedAtMs: nowMs,
      reasons,
      trace: { rulesMatched: [], limits: [], delays: [] },
    };
  }

  /** Contract steps 1–6 for `bundle`; stores and audits the decision unless `dryRun`. */
  async evaluate(bundle: RequestBundle, opts: EvaluateOptions): Promise<Decision> {
    const decision = await this.decide(bundle, opts);
    if (!opts.dryRun) this.record(bundle.id, opts.sessionId, decision);
    return decision;
  }

  private async decide(bundle: RequestBundle, opts: EvaluateOptions): Promise<Decision> {
    const { nowMs } = opts;
    const deny = (code: string, detail: string) => this.denial(bundle, [{ code, detail }], nowMs);
    if (!this.governance) return deny('no-policy', 'no policy configured');
    const { request } = bundle;
    const key = this.d.wallets.get(bundle.keyId);
    if (!key) return deny('unknown-key', `this node holds no share of key ${bundle.keyId}`);
    // Steps 1–4.
    const check = await checkBundle(bundle, {
      key,
      chains: this.d.config.chains,
      ...(opts.message !== undefined ? { message: opts.message } : {}),
    });
    if (!check.ok) return deny(check.code, check.detail);
    // Step 5.
    if (!opts.dryRun) {
      const firstSeen = this.noteSeen(bundle.id, nowMs);
      if (Math.abs(request.submittedAtMs - firstSeen) > FRESHNESS_MS)
        return deny(
          'stale-request',
          `submitted at ${request.submittedAtMs}, first seen by this node at ${firstSeen} (more than 5 minutes apart)`,
        );
    }
    // Step 6.
    const versions = this.governance.versions();
    const active = this.governance.active(request.submittedAtMs);
    if (!active)
      return evaluateUnderGovernance(this.governance.config, versions, request, {
        nowMs,
        approvals: bundle.approvals,
      });
    const policy = active.policy;
    const extra: DecisionReason[] = [];
    const wallet = policy.wallets.find((w) => w.id === request.wallet);
    if (request.kind === 'raw-digest' && wallet) {
      const names = await rawDigestAddresses(key, bundle.path, wallet.chain, wallet.network);
      if (!names.some((n) => sameAddress(wallet.chain, n, wallet.address)))
        extra.push({
          code: 'wrong-key',
          detail: `policy wallet ${wallet.id} is not key ${bundle.keyId} at ${bundle.path}`,
        });
    }
    let screening: ScreeningResult | undefined;
    let history: LimitHistory | undefined;
    if (request.kind === 'transfer') {
      const { intent } = request;
      const listed = this.denylist?.check(intent.chain, intent.to);
      if (listed?.status === 'hit') screening = { status: 'hit', detail: listed.detail };
      else {
        if (listed?.status === 'unavailable')
          extra.push({ code: 'screening-unavailable', detail: `${listed.detail}; failing closed` });
        if (policy.screening.hook) screening = await callScreeningHook(policy.screening.hook, intent);
      }
      if (policy.limits.length > 0) history = await this.history(bundle, key, policy, nowMs);
    }
    const vetoes = [...bundle.vetoes];
    for (const v of this.localVetoes(bundle.id))
      if (!vetoes.some((w) => w.signature === v.signature)) vetoes.push(v);
    const decision = evaluate(policy, request, {
      nowMs,
      approvals: bundle.approvals,
      vetoes,
      ...(bundle.priceSnapshot !== undefined ? { priceSnapshot: bundle.priceSnapshot } : {}),
      ...(screening !== undefined ? { screening } : {}),
      ...(history !== undefined ? { history } : {}),
      knownDestinations:
        request.kind === 'transfer'
          ? this.receipts.knownDestinations({
              wallet: request.wallet,
              chain: request.intent.chain,
              network: request.intent.network,
              to: request.intent.to,
              signers: key.threshold,
            })
          : [],
    });
    if (extra.length === 0) return decision;
    return {
      ...decision,
      outcome: 'deny',
      reasons: [...extra, ...(decision.outcome === 'deny' ? decision.reasons : [])],
    };
  }

  /** Receipts + authorizations in the longest limit window, complete only with n − t + 1 answers. */
  private async history(
    bundle: RequestBundle,
    key: { participants: string[]; parties: number; threshold: number },
    policy: PolicyDocument,
    nowMs: number,
  ): Promise<LimitHistory | undefined> {
    const windowMs = Math.max(...policy.limits.map((l) => l.windowMs));
    const fromMs = nowMs - windowMs;
    const need = key.parties - key.threshold + 1;
    const answer = await this.receipts.queryHistory(
      key.participants,
      need,
      fromMs,
      nowMs,
      this.d.config.policy?.historyTimeoutMs ?? 3_000,
    );
    if (answer.answered.length < need) {
      this.d.log.warn(
        { request: bundle.id, answered: answer.answered, need },
        'limit history incomplete: too few key holders answered',
      );
      return undefined;
    }
    const receipts = answer.entries
      .filter((e) => e.kind === 'transfer' && e.requestDigest !== bundle.requestDigest)
      // In-flight authorizations carry their authorization time; count them as completing now.
      .map((e) => toEngineReceipt(e.completedAtMs > nowMs ? { ...e, completedAtMs: nowMs } : e));
    return { completeFromMs: fromMs, completeToMs: nowMs, receipts };
  }

  /** The audit entry and the stored decision in one transaction (one fsync per decision). */
  private record(requestId: string | undefined, sessionId: string | undefined, decision: Decision): void {
    this.d.db.transaction(() => this.recordNow(requestId, sessionId, decision))();
  }

  private recordNow(requestId: string | undefined, sessionId: string | undefined, decision: Decision): void {
    this.d.audit.append('policy.decision', this.d.config.nodeId, requestId ?? sessionId ?? 'unknown', {
      session: sessionId ?? null,
      requestDigest: decision.requestDigest,
      outcome: decision.outcome,
      policyVersion: decision.policyVersion,
      reasons: decision.reasons.map((r) => r.code),
    });
    this.d.db
      .prepare(
        `INSERT INTO policy_decisions (request_id, request_digest, session_id, outcome, decision, at_ms)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        requestId ?? null,
        decision.requestDigest || null,
        sessionId ?? null,
        decision.outcome,
        JSON.stringify(decision),
        decision.evaluatedAtMs,
      );
  }

  /** The decisions stored for a request id (newest last). */
  decisions(requestId: string): Decision[] {
    return (
      this.d.db
        .prepare('SELECT decision FROM policy_decisions WHERE request_id = ? ORDER BY seq')
        .all(requestId) as Array<{ decision: string }>
    ).map((r) => JSON.parse(r.decision) as Decision);
  }

  // ---- session hooks ----

  /** SessionManager `authorizeSign`: this node's own decision for one signing session. */
  async authorizeSign(a: SignAuthorization): Promise<AuthorizationResult> {
    const nowMs = this.clock();
    const refuse = (bundle: RequestBundle | undefined, code: string, detail: string): AuthorizationResult => {
      const decision = this.denial(bundle, [{ code, detail }], nowMs);
      this.record(bundle?.id, a.sessionId, decision);
      return { ok: false, reason: `${code}: ${detail}` };
    };
    if (!this.governance) return refuse(undefined, 'policy-denied', 'no policy configured');
    if (a.request === undefined)
      return refuse(undefined, 'malformed-bundle', 'the session carries no request bundle');
    let bundle: RequestBundle;
    try {
      bundle = parseBundle(a.request);
    } catch (e) {
      if (e instanceof BundleError) return refuse(undefined, 'malformed-bundle', e.message);
      throw e;
    }
    if (bundle.keyId !== a.walletId || bundle.path !== a.path)
      return refuse(bundle, 'wrong-key', 'the session signs with another key or path than the bundle names');
    const decision = await this.evaluate(bundle, {
      nowMs,
      dryRun: false,
      sessionId: a.sessionId,
      message: a.message,
    });
    if (decision.outcome !== 'allow')
      return {
        ok: false,
        reason: `${decision.outcome}: ${decision.reasons.map((r) => `${r.code} (${r.detail})`).join('; ')}`,
      };
    this.receipts.recordAuthorization(this.receiptBody(bundle, a.sessionId, nowMs, decision), nowMs);
    return { ok: true };
  }

  private receiptBody(
    bundle: RequestBundle,
    sessionId: string,
    atMs: number,
    decision?: Decision,
  ): Omit<ReceiptBody, 'format' | 'signer'> {
    const { request } = bundle;
    const common = {
      requestDigest: bundle.requestDigest,
      requestId: bundle.id,
      wallet: request.wallet,
      keyId: bundle.keyId,
      operator: request.operator,
      completedAtMs: atMs,
      sessionId,
    };
    if (request.kind === 'raw-digest')
      return { ...common, kind: 'raw-digest', asset: 'raw', to: '', amount: '0' };
    const { intent } = request;
    const reference = decision?.trace.referenceValue;
    return {
      ...common,
      kind: 'transfer',
      asset: assetKey(intent.chain, intent.network, intent.asset.contract),
      to: intent.to,
      amount: intent.amount.toString(),
      ...(reference !== undefined ? { referenceValue: reference } : {}),
    };
  }

  /** SessionManager `onSigned`: this member's signed receipt, stored and sent to every peer. */
  onSigned(e: SignedEvent): void {
    if (e.request === undefined) return;
    let bundle: RequestBundle;
    try {
      bundle = parseBundle(e.request);
    } catch {
      return;
    }
    const stored = this.d.db
      .prepare('SELECT body FROM policy_authorizations WHERE request_digest = ?')
      .get(bundle.requestDigest) as { body: string } | undefined;
    const reference = stored ? (JSON.parse(stored.body) as ReceiptBody).referenceValue : undefined;
    const body = this.receiptBody(bundle, e.sessionId, this.clock());
    this.receipts
      .issue(reference !== undefined ? { ...body, referenceValue: reference } : body)
      .catch((err) => this.d.log.error({ err: (err as Error).message }, 'receipt not issued'));
  }

  /**
   * Asks every peer for the versions it holds (notice `policy.sync`), so a node that was down while a
   * version was published catches up; each version is verified here and its timelock starts now.
   */
  syncFromPeers(): void {
    if (!this.governance) return;
    for (const peer of this.d.config.peers)
      this.d.sendNotice(peer.id, 'policy.sync', '{}').catch(() => undefined);
  }

  /** Notices `policy.*`, `receipt`, `history.*` from pinned peers. */
  handleNotice(from: string, topic: string, body: string): void {
    if (topic === 'policy.version') {
      this.submitVersion(JSON.parse(body) as unknown, `peer:${from}`, false);
      return;
    }
    if (topic === 'policy.sync') {
      if (!this.governance) return;
      for (const v of this.governance.view(this.clock()).versions) {
        const wire = this.governance.wireOf(v.version, v.digest);
        if (wire) this.d.sendNotice(from, 'policy.version', JSON.stringify(wire)).catch(() => undefined);
      }
      return;
    }
    this.receipts.handleNotice(from, topic, body);
  }
}
