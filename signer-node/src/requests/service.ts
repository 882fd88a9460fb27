// Transfer and raw-digest requests on one signer node (signer-node/docs/policy-api.md): creation
// (build or take the unsigned transaction, decode it here, form the PolicyRequest and bundle), the
// forwarding of bundles, approvals, vetoes and cancellations to every peer holding the key, evaluation
// by the node's policy gate, and the lifecycle the scheduler drives: delay and expiry, signing through a
// threshold session that carries the bundle, assembly of the signed transaction, broadcast and
// confirmation. The coordinator (the node that received the request) is the only one that starts a
// signing session; every member decides for itself in its own `authorizeSign`.
import type { Chain, TransferIntent } from '@coffer/chains/intent';
import { intentToWire } from '@coffer/chains/intent';
import type { Approval, Veto } from '@coffer/policy/approvals';
import { verifyApproval, verifyVeto } from '@coffer/policy/approvals';
import type { PolicyDocument } from '@coffer/policy/document';
import type { Decision } from '@coffer/policy/evaluate';
import type { PriceSnapshot } from '@coffer/policy/price';
import { type PolicyRequest, requestDigest } from '@coffer/policy/request';
import { approvalFromWire, priceSnapshotFromWire, vetoFromWire } from '@coffer/policy/wire';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import type { Logger } from 'pino';
import { ApiError } from '../api/errors.ts';
import type { AuditLog } from '../audit/log.ts';
import type { ApiKeyConfig, NodeConfig } from '../config/config.ts';
import {
  BundleError,
  bundleToJson,
  type DecodedUnsigned,
  decodeUnsigned,
  descriptionMismatch,
  evmNetwork,
  type KeyRecord,
  keyAddress,
  makeBundle,
  parseBundle,
  type RequestBundle,
  type TransferDescription,
  unsignedTransactionText,
} from '../policy/bundle.ts';
import { SessionError, type SessionManager } from '../sessions/manager.ts';
import { messageLengthOk } from '../sessions/parties.ts';
import type { NodeDatabase } from '../storage/db.ts';
import type { Wallet, WalletStore } from '../store/wallets.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import type { Metrics } from '../util/metrics.ts';
import { assembleSigned, broadcasterFor } from './assemble.ts';
import { buildEvmFromRpc, EvmRpc } from './evm-rpc.ts';
import { APPROVAL_WAIT_MS, type RequestStatus, statusForOutcome, TERMINAL, WAITING } from './lifecycle.ts';
import { type RequestKind, RequestStore, type StoredRequest } from './store.ts';

/** What the service needs from the node's policy gate (signer-node/src/policy). */
export interface RequestGate {
  /** Evaluates a bundle under this node's policy, clock, screening and history (dry run: nothing stored). */
  evaluate(bundle: RequestBundle, options: { nowMs: number; dryRun: boolean }): Promise<Decision>;
  /** The policy document in force at `timeMs`, to verify approvals and vetoes with the engine. */
  policyAt(timeMs: number): PolicyDocument | undefined;
  /** Records when this node first saw a request id (forwarded notice), for the gate's freshness check. */
  noteSeen?(requestId: string, atMs: number): void;
}

export interface RequestServiceDeps {
  config: NodeConfig;
  db: NodeDatabase;
  audit: AuditLog;
  wallets: WalletStore;
  sessions: SessionManager;
  log: Logger;
  gate: RequestGate;
  /** Optional: `coffer_requests_total{status}` and `coffer_requests_waiting`. */
  metrics?: Metrics;
  clock?: () => number;
}

export interface TransferBody {
  wallet: string;
  keyId: string;
  path?: string;
  chain: Chain;
  asset: { kind: 'native' } | { kind: 'token'; contract: string };
  to: string;
  amount: string;
  idempotencyKey: string;
  reference?: string;
  unsignedTransaction?: string;
  priceSnapshot?: unknown;
}

export interface RawDigestBody {
  wallet?: string;
  keyId: string;
  digest: string;
  path?: string;
  idempotencyKey?: string;
}

/** Everything a submission of a transfer body is evaluated on (`RequestService.prepareTransfer`). */
export interface PreparedTransfer {
  /** The new request's bundle, without approvals. */
  bundle: RequestBundle;
  wallet: Wallet;
  /** The address the transaction spends from (the key at the path, on the body's chain). */
  from: string;
  /** The EVM nonce of the transaction (`createTransfer` reserves it by storing it), else null. */
  nonce: number | null;
  fingerprint: string;
  signingDigest: string;
}

/** What a transfer body says before any key, price or transaction is looked at. */
interface TransferPlan {
  operator: string;
  path: string;
  description: TransferDescription;
  fingerprint: string;
}

interface TransferSender {
  wallet: Wallet;
  from: string;
  priceSnapshot: PriceSnapshot | undefined;
}

const SCHEDULER_INTERVAL_MS = 250;
const SCHEDULER_BATCH = 16;
const CONFIRMATIONS = 1;
const CONFIRMATION_POLL_MS = 1_000;
const BROADCAST_RETRY_MS = 2_000;
const MAX_BROADCAST_ATTEMPTS = 10;
/** Peers keep a waiting request a little longer than its coordinator before calling it expired. */
const PEER_EXPIRY_GRACE_MS = 60 * 60 * 1000;
/** How long the scheduler leaves an allowed raw digest to the HTTP call that is signing it. */
const SYNCHRONOUS_GRACE_MS = 30_000;
/** An allow decision this recent is not taken again before signing (the gate still decides with the session). */
const FRESH_DECISION_MS = 1_000;

export class RequestService {
  readonly store: RequestStore;
  private readonly clock: () => number;
  private readonly evmRpc: EvmRpc | undefined;
  private readonly inFlight = new Set<string>();
  private readonly signing = new Map<string, Promise<unknown>>();
  private readonly locks = new Map<string, Promise<void>>();
  private readonly broadcastAttempts = new Map<string, number>();
  /** Notices about requests a synchronous raw-digest call is still running, in the order they were sent. */
  private readonly heldNotices = new Map<string, { wallet: Wallet; topic: string; body: string }[]>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(private readonly d: RequestServiceDeps) {
    this.clock = d.clock ?? Date.now;
    const metrics = d.metrics;
    metrics?.counter('coffer_requests_total', 'Requests entering each lifecycle status on this node');
    metrics?.gauge(
      'coffer_requests_waiting',
      'Requests this node coordinates that wait for approvals or a delay',
      () => this.store.countCoordinated(['pending-approvals', 'delayed']),
    );
    this.store = new RequestStore(d.db, d.audit, this.clock, (status) =>
      metrics?.inc('coffer_requests_total', { status }),
    );
    const rpcUrl = d.config.chains.evm?.rpcUrl;
    this.evmRpc = rpcUrl === undefined ? undefined : new EvmRpc(rpcUrl);
  }

  /** Restart recovery, then the scheduler (its timer never keeps the process alive). */
  start(): void {
    for (const r of this.store.coordinatedIn('signing')) {
      this.store.transition(r.id, 'signing', 'failed', this.d.config.nodeId, {
        error: 'the node restarted while the request was being signed; submit a new request',
      });
    }
    this.timer = setInterval(() => void this.tick(), SCHEDULER_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  // ---- creation --------------------------------------------------------------------------------

  async createTransfer(body: TransferBody, apiKey: ApiKeyConfig): Promise<{ created: boolean; view: View }> {
    const plan = transferPlan(body, apiKey, this.d.config);
    const existing = this.idempotent(plan.operator, body.idempotencyKey, plan.fingerprint);
    if (existing) return { created: false, view: existing };
    const sender = await this.transferSender(body, plan);
    // One build at a time per sender: the nonce reservation reads what earlier builds stored.
    const id = await this.exclusive(`${body.chain}:${sender.from.toLowerCase()}`, async () => {
      const prepared = await this.buildTransfer(body, plan, sender, (detail) =>
        this.d.audit.append('request.refused', `api:${apiKey.id}`, body.idempotencyKey, {
          reason: 'description-mismatch',
          detail,
        }),
      );
      return this.record(prepared.bundle, {
        apiKey,
        fingerprint: prepared.fingerprint,
        signingDigest: prepared.signingDigest,
        reference: body.reference ?? null,
        evmFrom: body.chain === 'evm' ? prepared.from.toLowerCase() : null,
        evmNonce: prepared.nonce,
        wallet: prepared.wallet,
      });
    });
    if (typeof id !== 'string') return { created: false, view: id };
    const view = await this.evaluateNew(id, false);
    return { created: true, view };
  }

  /**
   * The policy decision a submission of `body` by `apiKey` would get now, with `approvals` (Approval
   * wire; a malformed one is 400 naming its field) added (`POST /v1/policy/dry-run`): the same
   * preparation and errors as `createTransfer`, then the gate's full evaluation. Reserves no nonce,
   * stores, audits and forwards nothing; the idempotency key is not looked up (a real submission under a
   * used key returns that request, or 409).
   */
  async dryRunTransfer(body: TransferBody, apiKey: ApiKeyConfig, approvals: unknown[]): Promise<Decision> {
    const counted = approvals.map((a, i) => decodeWire(() => approvalFromWire(a, `approvals[${i}]`)));
    const { bundle } = await this.prepareTransfer(body, apiKey);
    bundle.approvals = counted;
    return this.d.gate.evaluate(bundle, { nowMs: this.clock(), dryRun: true });
  }

  /**
   * Everything a submission of `body` by `apiKey` is evaluated on, without side effects: the steps
   * `createTransfer` takes (with its idempotency lookup and per-sender section between them).
   */
  async prepareTransfer(body: TransferBody, apiKey: ApiKeyConfig): Promise<PreparedTransfer> {
    const plan = transferPlan(body, apiKey, this.d.config);
    return this.buildTransfer(body, plan, await this.transferSender(body, plan));
  }

  /** This node's share of the key, the address it spends from on the chain, and the price snapshot. */
  private async transferSender(body: TransferBody, plan: TransferPlan): Promise<TransferSender> {
    const wallet = this.wallet(body.keyId);
    const key: KeyRecord = {
      scheme: wallet.scheme,
      publicKey: wallet.publicKey,
      chainCode: wallet.chainCode,
    };
    const from = await keyAddress(key, plan.path, body.chain, plan.description.network).catch(
      (e: unknown) => {
        throw fieldError(e, 'path');
      },
    );
    if (from === undefined)
      throw new ApiError(400, 'invalid-request', `key ${body.keyId} has no ${body.chain} address`, 'keyId');
    return { wallet, from, priceSnapshot: parsePrice(body.priceSnapshot) };
  }

  /**
   * The unsigned transaction (the client's, or built here), decoded by this node and checked against the
   * description (422 `description-mismatch`, after `onMismatch`), in a new bundle. Only reads the store.
   */
  private async buildTransfer(
    body: TransferBody,
    plan: TransferPlan,
    sender: TransferSender,
    onMismatch?: (detail: string) => void,
  ): Promise<PreparedTransfer> {
    const { wallet, from, priceSnapshot } = sender;
    const { bytes, nonce } = await this.unsignedTransaction(body, from, plan.description);
    let decoded: DecodedUnsigned;
    try {
      decoded = await decodeUnsigned(body.chain, bytes, { from, chains: this.d.config.chains });
    } catch (e) {
      throw fieldError(e, 'unsignedTransaction');
    }
    const mismatch = descriptionMismatch(plan.description, decoded.intent);
    if (mismatch !== undefined) {
      onMismatch?.(mismatch);
      throw new ApiError(
        422,
        'description-mismatch',
        `the unsigned transaction does not do what the request describes: ${mismatch}`,
        'unsignedTransaction',
      );
    }
    const request: PolicyRequest = {
      kind: 'transfer',
      wallet: body.wallet,
      operator: plan.operator,
      submittedAtMs: this.clock(),
      requestId: body.idempotencyKey,
      unsignedTransaction: bytes,
      intent: decoded.intent,
    };
    const bundle = makeBundle({
      id: newRequestId(),
      keyId: wallet.id,
      path: plan.path,
      request,
      description: plan.description,
      ...(priceSnapshot !== undefined ? { priceSnapshot } : {}),
    });
    return {
      bundle,
      wallet,
      from,
      nonce,
      fingerprint: plan.fingerprint,
      signingDigest: bytesToHex(decoded.signingDigest),
    };
  }

  /**
   * POST /v1/sign: records a raw-digest request, takes the first decision and, when policy allows it
   * at once, signs it before answering. The peers' notices about the request (its submission and each
   * status) wait until the call is over and then leave together, one envelope per peer: the members
   * get the request with the session start, so nothing needs them earlier, and the signing does not
   * share the cores with two rounds of notices. Returns the signing error, if one stopped the session.
   */
  async signRawDigest(body: RawDigestBody, apiKey: ApiKeyConfig): Promise<{ view: View; error: unknown }> {
    const held = new Set<string>();
    try {
      const { view } = await this.createRawDigest(body, apiKey, held);
      return view.status === 'approved' ? await this.settle(view.id) : { view, error: undefined };
    } finally {
      for (const id of held) this.releaseNotices(id);
    }
  }

  private async createRawDigest(
    body: RawDigestBody,
    apiKey: ApiKeyConfig,
    holdNotices: Set<string>,
  ): Promise<{ created: boolean; view: View }> {
    const operator = operatorOf(apiKey);
    const path = body.path ?? 'm';
    // Clients written before raw digests needed a policy wallet name the key only; such a policy wallet
    // is then the key id itself.
    const policyWallet = body.wallet ?? body.keyId;
    const fingerprint = fingerprintOf('raw-digest', policyWallet, body.keyId, path, { digest: body.digest });
    const id = newRequestId();
    const idempotencyKey = body.idempotencyKey ?? id;
    const existing = this.idempotent(operator, idempotencyKey, fingerprint);
    if (existing) return { created: false, view: existing };
    const wallet = this.wallet(body.keyId);
    if (wallet.scheme === 'eddsa-ed25519' && path !== 'm')
      throw new ApiError(
        400,
        'invalid-request',
        'eddsa-ed25519 keys support no derivation; path must be m',
        'path',
      );
    const digest = hexToBytes(body.digest);
    if (!messageLengthOk(wallet.scheme, digest.length))
      throw new ApiError(400, 'invalid-request', `wrong digest length for ${wallet.scheme}`, 'digest');
    const request: PolicyRequest = {
      kind: 'raw-digest',
      wallet: policyWallet,
      operator,
      submittedAtMs: this.clock(),
      requestId: idempotencyKey,
      digest,
    };
    const bundle = makeBundle({ id, keyId: wallet.id, path, request });
    holdNotices.add(id);
    this.heldNotices.set(id, []);
    const recorded = this.record(bundle, {
      apiKey,
      fingerprint,
      signingDigest: body.digest,
      reference: null,
      evmFrom: null,
      evmNonce: null,
      wallet,
    });
    if (typeof recorded !== 'string') return { created: false, view: recorded };
    return { created: true, view: await this.evaluateNew(recorded, true) };
  }

  /** Same operator and idempotency key: the same request back, unless the body differs (409). */
  private idempotent(operator: string, key: string, fingerprint: string): View | undefined {
    const existing = this.store.byIdempotencyKey(operator, key);
    if (existing === undefined) return undefined;
    if (existing.fingerprint !== fingerprint)
      throw new ApiError(
        409,
        'idempotency-conflict',
        `idempotency key "${key}" was used for a different request (${existing.id})`,
        'idempotencyKey',
      );
    return toView(existing);
  }

  private wallet(keyId: string): Wallet {
    const wallet = this.d.wallets.get(keyId);
    if (!wallet) throw new ApiError(404, 'not-found', 'this node holds no share of that key', 'keyId');
    return wallet;
  }

  /** The client's unsigned transaction, or one this node builds from its configured EVM endpoint. */
  private async unsignedTransaction(
    body: TransferBody,
    from: string,
    description: TransferDescription,
  ): Promise<{ bytes: Uint8Array; nonce: number | null }> {
    if (body.unsignedTransaction !== undefined) {
      const hex = body.unsignedTransaction.replace(/^0x/, '');
      if (!/^([0-9a-f]{2})+$/.test(hex))
        throw new ApiError(
          400,
          'invalid-request',
          'must be lowercase hex of whole bytes',
          'unsignedTransaction',
        );
      const bytes = hexToBytes(hex);
      return {
        bytes,
        nonce: body.chain === 'evm' ? await evmNonceOf(`0x${hex}`, this.d.config, from) : null,
      };
    }
    const evm = this.d.config.chains.evm;
    if (body.chain !== 'evm' || evm === undefined || this.evmRpc === undefined)
      throw new ApiError(
        400,
        'invalid-request',
        `this node builds only EVM transfers (chains.evm.rpcUrl); give the ${body.chain} unsigned transaction`,
        'unsignedTransaction',
      );
    const reserved = this.store.highestLiveNonce(from);
    try {
      const built = await buildEvmFromRpc(this.evmRpc, {
        network: evmNetwork(evm),
        from,
        to: description.to,
        ...(description.asset.kind === 'token' ? { token: description.asset.contract } : {}),
        amount: description.amount,
        ...(reserved !== undefined ? { minNonce: reserved + 1 } : {}),
      });
      return {
        bytes: hexToBytes(built.serialized.slice(2)),
        nonce: await evmNonceOf(built.serialized, this.d.config, from),
      };
    } catch (e) {
      const err = e as { code?: string; field?: string; message?: string };
      const upstream = err.code === 'rpc-error' || err.code === 'timeout' || err.code === 'chain-id-mismatch';
      throw new ApiError(
        upstream ? 502 : 400,
        err.code ?? 'invalid-request',
        `cannot build the transaction: ${err.message ?? 'error'}`,
        upstream ? 'chains.evm.rpcUrl' : mapBuildField(err.field),
      );
    }
  }

  /**
   * Stores a new request and forwards it to every peer holding the key. Returns its id, or the existing
   * request when a concurrent submission with the same idempotency key won.
   */
  private record(
    bundle: RequestBundle,
    o: {
      apiKey: ApiKeyConfig;
      fingerprint: string;
      signingDigest: string;
      reference: string | null;
      evmFrom: string | null;
      evmNonce: number | null;
      wallet: Wallet;
    },
  ): string | View {
    const nowMs = this.clock();
    const json = bundleToJson(bundle);
    try {
      this.store.insert(
        {
          id: bundle.id,
          kind: bundle.request.kind as RequestKind,
          role: 'coordinator',
          origin: this.d.config.nodeId,
          operator: bundle.request.operator,
          idempotencyKey: bundle.request.requestId,
          fingerprint: o.fingerprint,
          wallet: bundle.request.wallet,
          keyId: bundle.keyId,
          path: bundle.path,
          requestDigest: bundle.requestDigest,
          signingDigest: o.signingDigest,
          bundle: json,
          reference: o.reference,
          evmFrom: o.evmFrom,
          evmNonce: o.evmNonce,
          firstSeenMs: nowMs,
        },
        `api:${o.apiKey.id}`,
        o.reference !== null ? { reference: o.reference } : {},
      );
    } catch (e) {
      // Two concurrent submissions with one idempotency key: the loser gets the winner's request.
      if (/UNIQUE/.test((e as Error).message)) {
        const again = this.idempotent(bundle.request.operator, bundle.request.requestId, o.fingerprint);
        if (again) return again;
      }
      throw e;
    }
    this.d.gate.noteSeen?.(bundle.id, nowMs);
    this.forward(o.wallet, 'request.submitted', json, bundle.id);
    return bundle.id;
  }

  /** The first decision on a request just stored. */
  private async evaluateNew(id: string, synchronous: boolean): Promise<View> {
    await this.evaluateWaiting(id, { synchronous });
    return toView(this.store.get(id)!);
  }

  /** Runs `fn` after every earlier call with the same key has settled. */
  private async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(key) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  // ---- evaluation ------------------------------------------------------------------------------

  /** Re-evaluates a waiting coordinated request and moves it to where the decision sends it. */
  private async evaluateWaiting(
    id: string,
    options: { synchronous?: boolean } = {},
  ): Promise<StoredRequest | undefined> {
    const r = this.store.get(id);
    if (r?.role !== 'coordinator' || !(WAITING as readonly string[]).includes(r.status)) return r;
    const nowMs = this.clock();
    const bundle = parseBundle(r.bundle);
    // Only waiting for approvals expires; a granted delay runs its course (it may exceed 24 h).
    if (r.status !== 'delayed' && nowMs >= bundle.request.submittedAtMs + APPROVAL_WAIT_MS) {
      const expired = this.store.transition(r.id, r.status, 'expired', this.d.config.nodeId, {
        error: 'not approved within 24 h of submission',
      });
      if (expired) this.report(expired, 'expired');
      return expired;
    }
    let decision: Decision;
    try {
      decision = await this.d.gate.evaluate(bundle, { nowMs, dryRun: false });
    } catch (e) {
      this.d.log.error({ request: id, err: (e as Error).message }, 'policy evaluation failed');
      return this.store.transition(r.id, r.status, 'failed', this.d.config.nodeId, {
        error: `policy evaluation failed: ${(e as Error).message}`,
      });
    }
    const to = statusForOutcome(decision.outcome);
    // A synchronous caller (POST /v1/sign) signs an allowed request itself; the scheduler only takes
    // it over if that caller went away.
    const nextActionMs =
      to === 'approved' && options.synchronous
        ? nowMs + SYNCHRONOUS_GRACE_MS
        : this.nextAction(to, bundle, decision, nowMs);
    const detail = decision.reasons.map((x) => x.code).join(', ') || undefined;
    const current = this.store.get(id);
    if (!current || current.status !== r.status) return current;
    const after = this.store.transition(
      r.id,
      r.status,
      to,
      this.d.config.nodeId,
      { decision, nextActionMs },
      detail,
    );
    if (after && to !== r.status) this.report(after, to);
    return after;
  }

  private nextAction(
    to: RequestStatus,
    bundle: RequestBundle,
    decision: Decision,
    nowMs: number,
  ): number | null {
    const expiry = bundle.request.submittedAtMs + APPROVAL_WAIT_MS;
    if (to === 'approved') return nowMs;
    if (to === 'delayed') return Math.min(decision.delay?.delayedUntilMs ?? nowMs, expiry);
    if (to === 'pending-approvals') {
      // Wake up when the first counted approval expires (the decision may change) or at expiry.
      return expiry;
    }
    return null;
  }

  // ---- approvals, vetoes, cancellation ---------------------------------------------------------

  /** Verifies an approval with the policy engine; throws 422 naming the reason. */
  async approve(id: string, wire: unknown, apiKey: ApiKeyConfig): Promise<View> {
    const approval = decodeWire(() => approvalFromWire(wire, 'approval'));
    const r = this.mustGet(id);
    if (
      (TERMINAL as readonly string[]).includes(r.status) ||
      r.status === 'signing' ||
      r.status === 'signed' ||
      r.status === 'broadcast'
    )
      throw new ApiError(
        409,
        'request-closed',
        `request ${id} is ${r.status}; approvals no longer count`,
        'id',
      );
    this.addApproval(r, approval, `api:${apiKey.id}`, true);
    const wallet = this.d.wallets.get(r.keyId);
    if (wallet) this.forward(wallet, 'request.approval', JSON.stringify({ id, approval }), id);
    await this.evaluateWaiting(id);
    return toView(this.store.get(id)!);
  }

  /** Checks an approval against this request with the engine and stores it (replacing the approver's older one). */
  private addApproval(r: StoredRequest, approval: Approval, actor: string, fromApi: boolean): void {
    const bundle = parseBundle(r.bundle);
    const policy = this.d.gate.policyAt(bundle.request.submittedAtMs);
    if (policy === undefined)
      throw new ApiError(422, 'approval-rejected', 'no policy is in force for this request', 'approval');
    const check = verifyApproval(policy, approval, {
      requestDigest: r.requestDigest,
      initiator: r.operator,
      nowMs: this.clock(),
    });
    if (!check.ok) {
      if (fromApi)
        this.d.audit.append('request.approval-rejected', actor, r.id, {
          approverId: approval.approverId,
          reason: check.reason,
        });
      const error = new ApiError(422, 'approval-rejected', `${check.reason}: ${check.detail}`, 'approval');
      (error as ApiError & { reason?: string }).reason = check.reason;
      throw error;
    }
    const approvals = bundle.approvals.filter((a) => a.approverId !== approval.approverId);
    approvals.push(approval);
    approvals.sort((a, b) => (a.approverId < b.approverId ? -1 : a.approverId > b.approverId ? 1 : 0));
    const next = bundleToJson({ ...bundle, approvals });
    this.store.transition(
      r.id,
      r.status,
      r.status,
      actor,
      { bundle: next },
      `approval by ${approval.approverId}`,
    );
  }

  async veto(id: string, wire: unknown, apiKey: ApiKeyConfig): Promise<View> {
    const veto = decodeWire(() => vetoFromWire(wire, 'veto'));
    const r = this.mustGet(id);
    this.applyVeto(r, veto, `api:${apiKey.id}`);
    const wallet = this.d.wallets.get(r.keyId);
    if (wallet) this.forward(wallet, 'request.veto', JSON.stringify({ id, veto }), id);
    return toView(this.store.get(id)!);
  }

  /** Vetoes this node holds for a request (its own copy of the bundle); none for an unknown id. */
  vetoesOf(id: string): Veto[] {
    const r = this.store.get(id);
    return r ? parseBundle(r.bundle).vetoes : [];
  }

  private applyVeto(r: StoredRequest, veto: Veto, actor: string): void {
    const bundle = parseBundle(r.bundle);
    const policy = this.d.gate.policyAt(bundle.request.submittedAtMs);
    if (policy === undefined || !verifyVeto(policy, veto, r.requestDigest))
      throw new ApiError(
        422,
        'veto-rejected',
        'the veto does not verify for this request (unknown approver, bad signature or another digest)',
        'veto',
      );
    const next = bundleToJson({
      ...bundle,
      vetoes: [...bundle.vetoes.filter((v) => v.approverId !== veto.approverId), veto],
    });
    if (!canCancel(r.status)) {
      // Kept even so: this node's copy may be behind (or misreported by its coordinator), and the policy
      // gate counts every veto this node holds when it is asked to sign.
      this.store.transition(r.id, r.status, r.status, actor, { bundle: next }, `veto by ${veto.approverId}`);
      throw new ApiError(
        409,
        'request-closed',
        `request ${r.id} is ${r.status}; it can no longer be vetoed`,
        'id',
      );
    }
    const done = this.store.transition(
      r.id,
      r.status,
      'cancelled',
      actor,
      { bundle: next },
      `vetoed by ${veto.approverId}`,
    );
    if (!done) throw new ApiError(409, 'request-closed', `request ${r.id} changed status; retry`, 'id');
  }

  async cancel(id: string, apiKey: ApiKeyConfig): Promise<View> {
    const r = this.mustGet(id);
    if (r.operator !== operatorOf(apiKey))
      throw new ApiError(403, 'forbidden', 'only the initiator may cancel a request', 'id');
    if (!canCancel(r.status))
      throw new ApiError(
        409,
        'request-closed',
        `request ${id} is ${r.status}; it can no longer be cancelled`,
        'id',
      );
    const done = this.store.transition(
      r.id,
      r.status,
      'cancelled',
      `api:${apiKey.id}`,
      {},
      'cancelled by the initiator',
    );
    if (!done) throw new ApiError(409, 'request-closed', `request ${id} changed status; retry`, 'id');
    const wallet = this.d.wallets.get(r.keyId);
    if (wallet) this.forward(wallet, 'request.cancelled', JSON.stringify({ id }), id);
    return toView(this.store.get(id)!);
  }

  private mustGet(id: string): StoredRequest {
    const r = this.store.get(id);
    if (!r) throw new ApiError(404, 'not-found', 'no such request', 'id');
    return r;
  }

  view(id: string): View | undefined {
    const r = this.store.get(id);
    return r === undefined ? undefined : toView(r);
  }

  /**
   * The request(s) submitted under idempotency key `key`, coordinated here or forwarded by a peer: the
   * caller's own operator's (0 or 1), or every operator's for admin and auditor keys. A client whose
   * submission timed out looks here before submitting again (a new submission on another node would be
   * a second request).
   */
  byIdempotencyKey(key: string, apiKey: ApiKeyConfig): View[] {
    const everyOperator = apiKey.scopes.includes('admin') || apiKey.scopes.includes('auditor');
    if (everyOperator) return this.store.allByIdempotencyKey(key).map(toView);
    const own = this.store.byIdempotencyKey(operatorOf(apiKey), key);
    return own === undefined ? [] : [toView(own)];
  }

  list(status: RequestStatus | undefined, limit: number | undefined): View[] {
    return this.store.list({ ...(status ? { status } : {}), ...(limit ? { limit } : {}) }).map(toView);
  }

  /**
   * Runs a request that policy allows right away to its end and hands back the signing error, if any
   * (the synchronous raw-digest API answers with it).
   */
  async settle(id: string): Promise<{ view: View; error: unknown }> {
    const r = this.store.get(id);
    let error: unknown;
    if (r?.role === 'coordinator' && r.status === 'approved') error = await this.runApproved(r);
    else if (this.signing.has(id)) error = await this.signing.get(id);
    return { view: toView(this.store.get(id)!), error };
  }

  // ---- notices from peers ------------------------------------------------------------------------

  /** Handler for notice topics `request.*` (registered with the NoticeRouter). Throws on bad input. */
  onNotice(from: string, topic: string, body: string): void {
    const message = parseJson(body, topic);
    if (topic === 'request.submitted') {
      this.onSubmitted(from, message);
      return;
    }
    const o = message as { id?: unknown; approval?: unknown; veto?: unknown; status?: unknown };
    if (typeof o.id !== 'string' || !/^req-[0-9a-f]{24}$/.test(o.id))
      throw new Error(`${topic}: id is malformed`);
    const r = this.store.get(o.id);
    if (!r) throw new Error(`${topic}: unknown request ${o.id}`);
    if (topic === 'request.approval') {
      const approval = approvalFromWire(o.approval, 'approval');
      if (r.bundle.includes(approval.signature)) return;
      this.addApproval(r, approval, `peer:${from}`, false);
      void this.evaluateWaiting(r.id).catch((e) =>
        this.d.log.error({ err: (e as Error).message }, 're-evaluation failed'),
      );
      return;
    }
    if (topic === 'request.veto') {
      this.applyVeto(r, vetoFromWire(o.veto, 'veto'), `peer:${from}`);
      return;
    }
    if (topic === 'request.cancelled') {
      if (from !== r.origin) throw new Error(`${topic}: only the coordinator ${r.origin} cancels ${r.id}`);
      if (canCancel(r.status))
        this.store.transition(
          r.id,
          r.status,
          'cancelled',
          `peer:${from}`,
          {},
          'cancelled at the coordinator',
        );
      return;
    }
    if (topic === 'request.status') {
      if (from !== r.origin || r.role !== 'peer')
        throw new Error(`${topic}: not from the coordinator of ${r.id}`);
      this.mirrorStatus(r, message as Record<string, unknown>, from);
      return;
    }
    throw new Error(`unknown topic ${topic}`);
  }

  private onSubmitted(from: string, value: unknown): void {
    const bundle = parseBundle(value);
    if (this.store.get(bundle.id)) return; // first sight wins; a repeat changes nothing
    const wallet = this.d.wallets.get(bundle.keyId);
    if (!wallet?.participants.includes(from))
      throw new Error(`request.submitted: ${from} does not hold key ${bundle.keyId} with this node`);
    if (requestDigest(bundle.request) !== bundle.requestDigest)
      throw new Error('request.submitted: bundle.requestDigest does not match the request');
    const clash = this.store.byIdempotencyKey(bundle.request.operator, bundle.request.requestId);
    if (clash)
      throw new Error(
        `request.submitted: idempotency key of ${bundle.id} is already used by ${clash.id} on this node`,
      );
    const nowMs = this.clock();
    const description =
      bundle.request.kind === 'transfer' ? bundle.description : { digest: bytesToHex(bundle.request.digest) };
    this.store.insert(
      {
        id: bundle.id,
        kind: bundle.request.kind,
        role: 'peer',
        origin: from,
        operator: bundle.request.operator,
        idempotencyKey: bundle.request.requestId,
        fingerprint: fingerprintOf(
          bundle.request.kind,
          bundle.request.wallet,
          bundle.keyId,
          bundle.path,
          description,
        ),
        wallet: bundle.request.wallet,
        keyId: bundle.keyId,
        path: bundle.path,
        requestDigest: bundle.requestDigest,
        signingDigest: '',
        bundle: bundleToJson(bundle),
        reference: null,
        evmFrom: null,
        evmNonce: null,
        firstSeenMs: nowMs,
      },
      `peer:${from}`,
    );
    this.store.schedule(bundle.id, bundle.request.submittedAtMs + APPROVAL_WAIT_MS + PEER_EXPIRY_GRACE_MS);
    this.d.gate.noteSeen?.(bundle.id, nowMs);
  }

  /** A peer's copy follows what its coordinator reports; it never signs on its own account. */
  private mirrorStatus(r: StoredRequest, message: Record<string, unknown>, from: string): void {
    const status = message.status;
    if (
      typeof status !== 'string' ||
      !(
        [
          'denied',
          'cancelled',
          'expired',
          'failed',
          'signed',
          'broadcast',
          'confirmed',
          'pending-approvals',
          'delayed',
          'approved',
        ] as string[]
      ).includes(status)
    )
      throw new Error('request.status: status is malformed');
    if ((TERMINAL as readonly string[]).includes(r.status) || r.status === status) return;
    const txHash =
      typeof message.txHash === 'string' && /^0x[0-9a-f]{64}$/.test(message.txHash)
        ? message.txHash
        : undefined;
    this.d.db
      .prepare(
        `UPDATE requests SET status = ?, tx_hash = COALESCE(?, tx_hash), updated_at = ?,
           next_action_ms = CASE WHEN ? IN ('denied', 'cancelled', 'expired', 'failed', 'confirmed') THEN NULL ELSE next_action_ms END
         WHERE id = ?`,
      )
      .run(status, txHash ?? null, new Date(this.clock()).toISOString(), status, r.id);
    this.d.db
      .prepare(
        `INSERT INTO request_transitions (request_id, seq, status, at, detail)
         VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM request_transitions WHERE request_id = ?), ?, ?, ?)`,
      )
      .run(r.id, r.id, status, new Date(this.clock()).toISOString(), `reported by ${from}`);
    this.d.audit.append('request.status-reported', `peer:${from}`, r.id, {
      status,
      ...(txHash ? { txHash } : {}),
    });
  }

  /** Sends a notice to every other holder of the key without waiting for it (in order per peer). */
  private forward(wallet: Wallet, topic: string, body: string, heldFor?: string): void {
    const held = heldFor === undefined ? undefined : this.heldNotices.get(heldFor);
    if (held) {
      held.push({ wallet, topic, body });
      return;
    }
    for (const peer of wallet.participants)
      if (peer !== this.d.config.nodeId)
        this.d.sessions
          .sendNotice(peer, topic, body)
          .catch((e) =>
            this.d.log.warn(
              { peer, topic, err: (e as Error).message },
              'notice not delivered; the peer will see the request at signing',
            ),
          );
  }

  private report(r: StoredRequest, status: RequestStatus, extra: Record<string, unknown> = {}): void {
    const wallet = this.d.wallets.get(r.keyId);
    if (wallet && r.role === 'coordinator')
      this.forward(wallet, 'request.status', JSON.stringify({ id: r.id, status, ...extra }), r.id);
  }

  /** Sends the notices held for a request, in order (queued in one tick, so they share an envelope). */
  private releaseNotices(id: string): void {
    const held = this.heldNotices.get(id);
    this.heldNotices.delete(id);
    for (const n of held ?? []) this.forward(n.wallet, n.topic, n.body);
  }

  // ---- scheduler -------------------------------------------------------------------------------

  /**
   * One bounded pass over the requests whose time has come. Resolves when the steps it started have
   * settled; the timer does not wait for that, so a long signing session never holds back the others.
   */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    const started: Promise<void>[] = [];
    try {
      for (const r of this.store.due(this.clock(), SCHEDULER_BATCH)) {
        if (this.inFlight.has(r.id)) continue;
        this.inFlight.add(r.id);
        started.push(
          this.step(r)
            .catch((e) =>
              this.d.log.error({ request: r.id, err: (e as Error).message }, 'request step failed'),
            )
            .finally(() => this.inFlight.delete(r.id)),
        );
      }
    } finally {
      this.ticking = false;
    }
    await Promise.all(started);
  }

  private async step(r: StoredRequest): Promise<void> {
    if (r.role === 'peer') {
      if ((WAITING as readonly string[]).includes(r.status) || r.status === 'approved')
        this.store.transition(
          r.id,
          r.status,
          'expired',
          this.d.config.nodeId,
          {},
          'no word from the coordinator',
        );
      else this.store.schedule(r.id, null);
      return;
    }
    switch (r.status) {
      case 'pending-approvals':
      case 'delayed':
      case 'submitted': {
        const after = await this.evaluateWaiting(r.id);
        if (after?.status === 'approved') await this.runApproved(after);
        return;
      }
      case 'approved':
        await this.runApproved(r);
        return;
      case 'signed':
        await this.broadcast(r);
        return;
      case 'broadcast':
        await this.confirm(r);
        return;
      default:
        this.store.schedule(r.id, null);
    }
  }

  /** Takes the decision again (time has passed), then signs, assembles and broadcasts. */
  /** Signs an approved request once; a second caller waits for the same run. */
  private runApproved(r: StoredRequest): Promise<unknown> {
    const running = this.signing.get(r.id);
    if (running) return running;
    const run = this.sign(r).finally(() => this.signing.delete(r.id));
    this.signing.set(r.id, run);
    return run;
  }

  /** Returns the error that stopped the signing session, if one did. */
  private async sign(r: StoredRequest): Promise<unknown> {
    const nodeId = this.d.config.nodeId;
    const bundle = parseBundle(r.bundle);
    // Taken again when time has passed since the stored decision (an approval may have expired, a delay
    // may apply); a decision taken within the last second, by the same caller, stands. Either way the
    // gate decides once more, with the signing session, on this node and on every member.
    const decidedAt = r.decision?.outcome === 'allow' ? r.decision.evaluatedAtMs : Number.NEGATIVE_INFINITY;
    const nowMs = this.clock();
    const decision =
      r.decision !== null && nowMs - decidedAt >= 0 && nowMs - decidedAt < FRESH_DECISION_MS
        ? r.decision
        : await this.d.gate.evaluate(bundle, { nowMs, dryRun: false });
    if (decision.outcome !== 'allow') {
      const to = statusForOutcome(decision.outcome);
      const after = this.store.transition(
        r.id,
        'approved',
        to,
        nodeId,
        {
          decision,
          nextActionMs: this.nextAction(to, bundle, decision, this.clock()),
        },
        decision.reasons.map((x) => x.code).join(', ') || undefined,
      );
      if (after) this.report(after, to);
      return;
    }
    const signing = this.store.transition(r.id, 'approved', 'signing', nodeId, {
      decision,
      nextActionMs: null,
    });
    if (!signing) return;
    const t = new Date(this.clock()).toISOString();
    // The record of the signature itself; sessions.request_id references it.
    this.d.db
      .prepare(
        `INSERT INTO signing_requests (id, idempotency_key, key_id, path, digest, status, created_at, updated_at)
         VALUES (?, NULL, ?, ?, ?, 'pending', ?, ?)
         ON CONFLICT(id) DO UPDATE SET status = 'pending', updated_at = excluded.updated_at`,
      )
      .run(r.id, r.keyId, r.path, r.signingDigest, t, t);
    let result: { signature: string; signers: string[]; sessionId: string };
    try {
      result = await this.d.sessions.sign(
        {
          walletId: r.keyId,
          message: hexToBytes(r.signingDigest),
          path: r.path,
          requestId: r.id,
          request: r.bundle,
        },
        `node:${nodeId}`,
      );
    } catch (e) {
      const message = (e as Error).message;
      this.d.db
        .prepare("UPDATE signing_requests SET status = 'failed', error = ?, updated_at = ? WHERE id = ?")
        .run(message, new Date(this.clock()).toISOString(), r.id);
      const denied = e instanceof SessionError && e.code === 'policy-denied';
      this.store.transition(r.id, 'signing', denied ? 'denied' : 'failed', nodeId, { error: message });
      this.report(r, denied ? 'denied' : 'failed');
      return denied ? undefined : e;
    }
    this.d.db
      .prepare("UPDATE signing_requests SET status = 'signed', signature = ?, updated_at = ? WHERE id = ?")
      .run(result.signature, new Date(this.clock()).toISOString(), r.id);
    let assembled: { signedTransaction: string | null; txHash: string | null };
    try {
      assembled = await assembleSigned(bundle, hexToBytes(result.signature), this.d.config.chains);
    } catch (e) {
      this.store.transition(r.id, 'signing', 'signed', nodeId, {
        signature: result.signature,
        signers: result.signers,
      });
      this.store.transition(r.id, 'signed', 'failed', nodeId, {
        error: `the signature does not assemble into the transaction: ${(e as Error).message}`,
      });
      return e;
    }
    const broadcasting = this.canBroadcast(bundle);
    // Fsynced for a transfer (RequestStore): before it is broadcast or reported.
    const signed = this.store.transition(r.id, 'signing', 'signed', nodeId, {
      signature: result.signature,
      signers: result.signers,
      ...(assembled.signedTransaction !== null ? { signedTransaction: assembled.signedTransaction } : {}),
      ...(assembled.txHash !== null ? { txHash: assembled.txHash } : {}),
      nextActionMs: broadcasting ? this.clock() : null,
    });
    if (signed) {
      this.report(signed, 'signed', assembled.txHash ? { txHash: assembled.txHash } : {});
      if (broadcasting) await this.broadcast(signed);
    }
  }

  /** EVM transfers are broadcast whenever the node has an EVM endpoint configured (chains.evm.rpcUrl). */
  private canBroadcast(bundle: RequestBundle): boolean {
    return (
      bundle.request.kind === 'transfer' && bundle.request.intent.chain === 'evm' && this.evmRpc !== undefined
    );
  }

  private async broadcast(r: StoredRequest): Promise<void> {
    const broadcaster = broadcasterFor(this.d.config.chains);
    if (!broadcaster || r.signedTransaction === null) {
      this.store.schedule(r.id, null);
      return;
    }
    try {
      const txHash = await broadcaster.broadcast(r.signedTransaction as `0x${string}`);
      this.broadcastAttempts.delete(r.id);
      const after = this.store.transition(r.id, 'signed', 'broadcast', this.d.config.nodeId, {
        txHash,
        nextActionMs: this.clock() + CONFIRMATION_POLL_MS,
      });
      if (after) this.report(after, 'broadcast', { txHash });
    } catch (e) {
      const err = e as { code?: string; message: string };
      const attempts = (this.broadcastAttempts.get(r.id) ?? 0) + 1;
      this.broadcastAttempts.set(r.id, attempts);
      if (err.code === 'broadcast-rejected' || attempts >= MAX_BROADCAST_ATTEMPTS) {
        this.broadcastAttempts.delete(r.id);
        this.store.transition(r.id, 'signed', 'failed', this.d.config.nodeId, {
          error: `broadcast failed: ${err.message}`,
        });
        this.report(r, 'failed');
      } else this.store.schedule(r.id, this.clock() + BROADCAST_RETRY_MS);
    }
  }

  private async confirm(r: StoredRequest): Promise<void> {
    const broadcaster = broadcasterFor(this.d.config.chains);
    if (!broadcaster || r.txHash === null) {
      this.store.schedule(r.id, null);
      return;
    }
    let status: Awaited<ReturnType<typeof broadcaster.status>>;
    try {
      status = await broadcaster.status(r.txHash);
    } catch (e) {
      this.d.log.warn({ request: r.id, err: (e as Error).message }, 'confirmation check failed');
      this.store.schedule(r.id, this.clock() + CONFIRMATION_POLL_MS);
      return;
    }
    if (status.state === 'confirmed' && status.confirmations >= CONFIRMATIONS) {
      const after = this.store.transition(
        r.id,
        'broadcast',
        'confirmed',
        this.d.config.nodeId,
        {},
        `${status.confirmations} confirmation(s)`,
      );
      if (after) this.report(after, 'confirmed', { txHash: r.txHash });
    } else if (status.state === 'failed') {
      this.store.transition(r.id, 'broadcast', 'failed', this.d.config.nodeId, {
        error: 'the transaction was mined and reverted',
      });
      this.report(r, 'failed');
    } else this.store.schedule(r.id, this.clock() + CONFIRMATION_POLL_MS);
  }
}

// ---- helpers ---------------------------------------------------------------------------------------

function canCancel(status: RequestStatus): boolean {
  return (WAITING as readonly string[]).includes(status) || status === 'approved';
}

function operatorOf(apiKey: ApiKeyConfig): string {
  // A key without an operator acts under its own id; policy then knows it only if an operator has that id.
  return apiKey.operator ?? apiKey.id;
}

function newRequestId(): string {
  return `req-${bytesToHex(randomBytes(12))}`;
}

function fingerprintOf(kind: string, wallet: string, keyId: string, path: string, what: unknown): string {
  const normalised =
    what !== null && typeof what === 'object' && 'amount' in (what as object)
      ? { ...(what as TransferDescription), amount: String((what as TransferDescription).amount) }
      : what;
  return bytesToHex(sha256(utf8ToBytes(canonicalJson({ kind, wallet, keyId, path, what: normalised }))));
}

function transferPlan(body: TransferBody, apiKey: ApiKeyConfig, config: NodeConfig): TransferPlan {
  const path = body.path ?? 'm';
  const description = descriptionOf(body, config);
  return {
    operator: operatorOf(apiKey),
    path,
    description,
    fingerprint: fingerprintOf('transfer', body.wallet, body.keyId, path, description),
  };
}

/** The client's description; the network is the one this node is configured for on that chain. */
function descriptionOf(body: TransferBody, config: NodeConfig): TransferDescription {
  const asset = body.asset as { kind: string; contract?: string };
  if (asset.kind === 'token' && asset.contract === undefined)
    throw new ApiError(400, 'invalid-request', 'asset.contract is required for a token', 'asset.contract');
  if (asset.kind === 'native' && asset.contract !== undefined)
    throw new ApiError(400, 'invalid-request', 'a native asset has no contract', 'asset.contract');
  let network: string;
  if (body.chain === 'evm') {
    const evm = config.chains.evm;
    if (!evm)
      throw new ApiError(400, 'invalid-request', 'this node has no chains.evm configuration', 'chain');
    network = `eip155:${evm.chainId}`;
  } else if (body.chain === 'tron') {
    const tron = config.chains.tron;
    if (!tron)
      throw new ApiError(400, 'invalid-request', 'this node has no chains.tron configuration', 'chain');
    network = tron.network;
  } else
    throw new ApiError(
      400,
      'invalid-request',
      'bitcoin transfers are not supported by this node yet',
      'chain',
    );
  if (!/^[1-9][0-9]{0,77}$/.test(body.amount))
    throw new ApiError(
      400,
      'invalid-request',
      'must be a positive integer in base units (decimal string)',
      'amount',
    );
  return {
    chain: body.chain,
    network,
    asset:
      body.asset.kind === 'native' ? { kind: 'native' } : { kind: 'token', contract: body.asset.contract },
    to: body.to,
    amount: BigInt(body.amount),
  };
}

function parsePrice(value: unknown): PriceSnapshot | undefined {
  if (value === undefined) return undefined;
  return decodeWire(() => priceSnapshotFromWire(value, 'priceSnapshot'));
}

/** Runs a strict wire decoder; its error (PolicyError / ChainError / BundleError) becomes 400 naming the field. */
function decodeWire<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fieldError(e, 'body');
  }
}

function fieldError(e: unknown, fallback: string): ApiError {
  if (e instanceof ApiError) return e;
  const err = e as { field?: string; reason?: string; message?: string; code?: string };
  const field = err.field !== undefined ? mapBundleField(err.field, fallback) : fallback;
  const message = err instanceof BundleError ? err.message : (err.message ?? 'is invalid');
  return new ApiError(400, 'invalid-request', message, field);
}

/** Bundle paths (bundle.request.unsignedTransaction…) as the client knows them. */
function mapBundleField(field: string, fallback: string): string {
  if (field.startsWith('bundle.request.unsignedTransaction')) return 'unsignedTransaction';
  if (field.startsWith('transaction'))
    return `unsignedTransaction.${field.slice('transaction.'.length) || ''}`.replace(/\.$/, '');
  if (field.startsWith('bundle.')) return fallback;
  return field;
}

function mapBuildField(field: string | undefined): string {
  if (field === undefined) return 'body';
  if (field === 'token') return 'asset.contract';
  return field;
}

/** The nonce of an unsigned EVM transaction (for reservation), decoded with this node's network. */
async function evmNonceOf(
  serialized: `0x${string}`,
  config: NodeConfig,
  from: string,
): Promise<number | null> {
  const evm = config.chains.evm;
  if (evm === undefined) return null;
  try {
    const { decodeEvmTransfer } = await import('@coffer/chains/evm');
    const network = evmNetwork(evm);
    return decodeEvmTransfer(serialized, { network, from }).nonce;
  } catch {
    return null;
  }
}

function parseJson(body: string, topic: string): unknown {
  if (body.length > 200_000) throw new Error(`${topic}: body too large`);
  try {
    return JSON.parse(body);
  } catch {
    throw new Error(`${topic}: body is not JSON`);
  }
}

// ---- the request view (API) ------------------------------------------------------------------------

export type View = ReturnType<typeof toView>;

export function toView(r: StoredRequest) {
  const bundle = parseBundle(r.bundle);
  const request = bundle.request;
  const intent: TransferIntent | null = request.kind === 'transfer' ? request.intent : null;
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    wallet: r.wallet,
    keyId: r.keyId,
    path: r.path,
    operator: r.operator,
    origin: r.origin,
    requestDigest: r.requestDigest,
    submittedAtMs: request.submittedAtMs,
    requestId: request.requestId,
    idempotencyKey: request.requestId,
    reference: r.reference,
    intent: intent === null ? null : intentToWire(intent),
    unsignedTransaction:
      request.kind === 'transfer'
        ? unsignedTransactionText(request.intent.chain, request.unsignedTransaction)
        : null,
    digest: request.kind === 'raw-digest' ? bytesToHex(request.digest) : null,
    /** Kept for clients of the raw-digest API before transfer requests (same as keyId). */
    walletId: r.keyId,
    signingDigest: r.signingDigest || null,
    decision: r.decision,
    approvals: bundle.approvals.map((a) => ({
      approverId: a.approverId,
      approvedAtMs: a.approvedAtMs,
      expiresAtMs: a.expiresAtMs,
    })),
    vetoes: bundle.vetoes.map((v) => ({ approverId: v.approverId, vetoedAtMs: v.vetoedAtMs })),
    signature: r.signature,
    signedTransaction: r.signedTransaction,
    txHash: r.txHash,
    signers: r.signers,
    history: r.history,
    error: r.error,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}
