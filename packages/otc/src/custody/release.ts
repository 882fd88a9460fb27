// Custody release: the desk's only way to move crypto. It asks the signer nodes (packages/client, the
// desk's maker-scoped API key) for a transfer under an idempotency key derived from the order and
// follows it; it never builds, signs or holds a key, and the nodes' own policy decides every release.
//
// At most one transfer per order, ever. The nodes return the existing request for a repeated key, but
// only the node that holds it does, and a signer node lends its share to any bundle its policy allows
// (it does not check whether another node holds a request under the same key). So:
//   1. every release first looks the key up on every node; a request found there is the release;
//   2. only when no node knows it is it created, on one node;
//   3. a create that gets no answer (timeout, reset) is never sent again blindly: the key is looked up
//      again and, if still unknown, the release fails as "outcome unknown"; the node is remembered, and
//      later releases of that key create only on that node (whose own idempotency then answers) and
//      refuse while it cannot be asked.
// The memory of step 3 is per process; after a crash the lookup on every reachable node still finds a
// request the nodes forwarded to their peers when they recorded it (they do so before answering).
import { inspect } from 'node:util';
import {
  CofferApiError,
  CofferClient,
  CofferConnectionError,
  CofferResponseError,
  type PolicyOutcome,
  type RequestStatus,
  type RequestView,
  type TransferRequestBody,
} from '@coffer/client';
import type { AssetConfig, OtcConfig } from '../config/types.ts';
import { invalid, OtcError } from '../errors.ts';
import type { ReleasedTransfer } from '../orders/deps.ts';
import { checkAddress, EvmReader } from './evm.ts';

export type CustodyConfig = OtcConfig['custody'];

/** A node request as the desk follows it. */
export type ReleaseStatus = {
  requestId: string;
  nodeStatus: RequestStatus;
  txHash?: string;
  /** Node ids that signed. */
  signers: string[];
  error?: string;
  decisionOutcome?: PolicyOutcome;
  /** The policy's reasons, `code: detail`. */
  reasons?: string[];
};

export type ReleaseInput = {
  orderId: string;
  /**
   * The only node a create may go to: the desk records it on the order before the first create, so
   * after a crash, or from another service instance, the transfer is never created on a second node.
   */
  node?: string;
  /** Default `otc:<orderId>:release`; an operator's retry after a failed release uses `…:release:<n>`. */
  idempotencyKey?: string;
  asset: AssetConfig;
  /** Destination address on the asset's chain. */
  to: string;
  /** Base units. */
  amount: bigint;
  reference: string;
};

const ORDER_ID = /^[A-Za-z0-9_.-]{1,100}$/;
const REQUEST_ID = /^req-[0-9a-f]{24}$/;
const KEY_ID = /^[0-9a-f]{64}$/;
const WALLET = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const PATH = /^m(\/[0-9]{1,10}){0,32}$/;
const MAX_AMOUNT = 2n ** 256n - 1n;
/** Lookups after an unanswered create, `pollMs` apart: the node may record the request a moment later. */
const LOOKUPS_AFTER_TIMEOUT = 3;
/** Keys whose create went unanswered, remembered per process (oldest dropped beyond this). */
const MAX_UNCERTAIN = 10_000;
/** Progress order of node statuses: a lagging peer's view never hides the coordinator's. */
const PROGRESS: Record<RequestStatus, number> = {
  submitted: 0,
  'pending-approvals': 1,
  delayed: 1,
  approved: 2,
  signing: 3,
  signed: 4,
  broadcast: 5,
  confirmed: 6,
  denied: 6,
  cancelled: 6,
  expired: 6,
  failed: 6,
};

/** `otc:<orderId>:release`, or `otc:<orderId>:release:<attempt>` for an operator's retry (attempt ≥ 2). */
export function releaseIdempotencyKey(orderId: string, attempt = 1): string {
  if (!ORDER_ID.test(orderId)) throw invalid('orderId', 'must be 1–100 letters, digits, _ . -');
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > 999)
    throw invalid('attempt', 'must be an integer from 1 to 999');
  return attempt === 1 ? `otc:${orderId}:release` : `otc:${orderId}:release:${attempt}`;
}

type Found = { view: RequestView; node: string };
/** Every node's answer for a key: who answered, what failed, and each view found (all nodes, not the first). */
type Lookup = { found?: Found; answered: Set<string>; problems: string[]; views: RequestView[] };

/** Statuses after which a signature exists: a request that reached one may be on chain. */
const SIGNED_OR_LATER = ['signed', 'broadcast', 'confirmed'];
const ENDED_UNSIGNED = ['failed', 'denied', 'cancelled', 'expired'];

export class CustodyClient {
  readonly #nodes: CofferClient[];
  readonly #pollMs: number;
  readonly #timeoutMs: number;
  readonly #chain: EvmReader | undefined;
  /** Idempotency key → URL of the node whose create went unanswered (see the file's comment). */
  readonly #uncertain = new Map<string, string>();

  /** The desk's assets: where the native asset of a chain is found for network fees. */
  readonly #assets: readonly AssetConfig[];

  constructor(config: CustodyConfig, assets: readonly AssetConfig[] = []) {
    this.#assets = assets;
    const c = checkConfig(config);
    this.#timeoutMs = c.requestTimeoutMs;
    this.#pollMs = c.pollMs;
    this.#nodes = c.nodes.map((url, i) => {
      try {
        return new CofferClient({ url, apiKey: c.apiKey, timeoutMs: c.requestTimeoutMs });
      } catch (e) {
        throw invalid(`custody.nodes[${i}]`, (e as Error).message);
      }
    });
    this.#chain = c.evmRpcUrl === undefined ? undefined : new EvmReader(c.evmRpcUrl, c.requestTimeoutMs);
  }

  /** The API key is never printed. */
  toJSON() {
    return { nodes: this.#nodes.map((n) => n.url), apiKey: '<redacted>' };
  }
  [inspect.custom]() {
    return `CustodyClient { nodes: ${JSON.stringify(this.#nodes.map((n) => n.url))}, apiKey: <redacted> }`;
  }

  /**
   * The order's transfer at the nodes: the request already made under its key, or a new one. Bitcoin and
   * TRON are refused before any node is asked. A node's refusal (policy, validation) is `custody-error`
   * with the node's code; a create without an answer is `custody-error` with `outcome: 'unknown'` —
   * call `release` again later, which looks the key up before creating anything.
   */
  async release(input: ReleaseInput): Promise<ReleaseStatus> {
    const body = transferBody(input);
    const key = body.idempotencyKey;
    const seen = await this.#lookupAll(key);
    if (seen.found) return this.#accept(seen.found, body);
    if (seen.answered.size === 0) throw noNodeAnswered(seen.problems);
    const pending = input.node ?? this.#uncertain.get(key);
    if (pending !== undefined && !this.#nodes.some((n) => n.url === pending))
      throw invalid('node', `${pending} is not one of custody.nodes`);
    if (pending !== undefined && !seen.answered.has(pending))
      throw new OtcError(
        'custody-error',
        `an earlier release of ${key} got no answer from ${pending}, which cannot be asked now; not creating it elsewhere (it may exist there)`,
        'custody.nodes',
        { outcome: 'unknown', node: pending },
      );
    const node = this.#nodes.find((n) => n.url === (pending ?? n.url) && seen.answered.has(n.url))!;
    try {
      return this.#accept({ view: await node.createTransfer(body), node: node.url }, body);
    } catch (e) {
      if (e instanceof CofferConnectionError) return this.#afterUnanswered(node.url, body, e);
      // A node fault after it may have recorded the request: later creates go to that node only.
      if (e instanceof CofferApiError && e.status >= 500) this.#remember(key, node.url);
      throw nodeFailure(e, node.url);
    }
  }

  /** The first configured node that answers its health check now (where a new release is pinned). */
  async reachableNode(): Promise<string | undefined> {
    const answers = await Promise.allSettled(this.#nodes.map((n) => n.health()));
    const i = answers.findIndex((a) => a.status === 'fulfilled');
    return i === -1 ? undefined : this.#nodes[i]!.url;
  }

  /** The request under `idempotencyKey` on any node, or undefined when every node that answered knows none. */
  async lookup(idempotencyKey: string): Promise<ReleaseStatus | undefined> {
    if (typeof idempotencyKey !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(idempotencyKey))
      throw invalid('idempotencyKey', 'must be 1–128 printable ASCII characters without spaces');
    const seen = await this.#lookupAll(idempotencyKey);
    if (seen.found) {
      this.#uncertain.delete(idempotencyKey);
      return toStatus(seen.found.view);
    }
    if (seen.answered.size === 0) throw noNodeAnswered(seen.problems);
    return undefined;
  }

  /**
   * Whether the request under `idempotencyKey` provably never produced a signature, so a new attempt or
   * a refund cannot pay twice: every node must answer, and none may show a transaction, a signed status
   * in its history, or a request still alive. A peer that missed the coordinator's notices alone is not
   * enough, which is why a single answer never decides.
   */
  async neverSigned(idempotencyKey: string): Promise<{ proven: boolean; reason: string }> {
    const seen = await this.#lookupAll(idempotencyKey);
    const silent = this.#nodes.filter((n) => !seen.answered.has(n.url)).map((n) => n.url);
    if (silent.length > 0) return { proven: false, reason: `no answer from ${silent.join(', ')}` };
    for (const v of seen.views) {
      if (v.txHash !== null) return { proven: false, reason: `request ${v.id} has transaction ${v.txHash}` };
      if (v.history.some((h) => SIGNED_OR_LATER.includes(h.status)) || SIGNED_OR_LATER.includes(v.status))
        return { proven: false, reason: `request ${v.id} was signed` };
      if (!ENDED_UNSIGNED.includes(v.status))
        return { proven: false, reason: `request ${v.id} is still ${v.status}` };
    }
    return {
      proven: true,
      reason: `${seen.views.length} view(s) on ${this.#nodes.length} node(s), none signed`,
    };
  }

  /** The request as the node furthest along reports it (peers may lag behind the coordinator). */
  async status(requestId: string): Promise<ReleaseStatus> {
    return toStatus(await this.#furthestView(requestId));
  }

  /** What the nodes decoded and signed for a request (their intent, not the desk's description). */
  async releasedTransfer(requestId: string): Promise<ReleasedTransfer> {
    const view = await this.#furthestView(requestId);
    if (view.intent === null || view.intent === undefined)
      throw new OtcError('custody-error', `node request ${requestId} is not a transfer`, 'requestId');
    return {
      to: view.intent.to,
      amount: BigInt(view.intent.amount),
      ...(view.intent.asset.contract !== undefined ? { contract: view.intent.asset.contract } : {}),
      ...(view.txHash ? { txHash: view.txHash } : {}),
    };
  }

  /** The view of the node furthest along (peers may lag behind the coordinator). */
  async #furthestView(requestId: string): Promise<RequestView> {
    if (typeof requestId !== 'string' || !REQUEST_ID.test(requestId))
      throw invalid('requestId', 'must look like req-<24 hex>');
    const answers = await Promise.allSettled(this.#nodes.map((n) => n.request(requestId)));
    const views: RequestView[] = [];
    const problems: string[] = [];
    let missing = 0;
    for (const [i, a] of answers.entries()) {
      if (a.status === 'fulfilled') views.push(a.value);
      else if (a.reason instanceof CofferApiError && a.reason.status === 404) missing++;
      else problems.push(describe(a.reason, this.#nodes[i]!.url));
    }
    if (views.length === 0) {
      if (missing > 0) throw new OtcError('not-found', `no signer node knows ${requestId}`, 'requestId');
      throw noNodeAnswered(problems);
    }
    views.sort((a, b) => PROGRESS[b.status] - PROGRESS[a.status]);
    return views[0]!;
  }

  /**
   * Confirmations of a release's transaction: blocks from its own to the head; 0 while pending or when
   * it reverted (it moved nothing); undefined when the chain does not know it.
   */
  async confirmations(asset: AssetConfig, txHash: string): Promise<number | undefined> {
    const tx = await this.#reader(asset).transaction(
      typeof txHash === 'string' ? txHash.toLowerCase() : txHash,
    );
    if (tx.state === 'unknown') return undefined;
    return tx.state === 'included' ? tx.confirmations : 0;
  }

  /**
   * The network fee a release paid, in the chain's native asset as the desk configures it (ETH for an
   * ERC-20 release from the same hot wallet); undefined while unknown or when no native asset is set up.
   */
  async networkFee(
    asset: AssetConfig,
    txHash: string,
  ): Promise<{ asset: string; amount: bigint } | undefined> {
    const native = this.#assets.find(
      (a) =>
        a.chain === asset.chain &&
        a.network === asset.network &&
        a.kind === 'native' &&
        a.hotAddress.toLowerCase() === asset.hotAddress.toLowerCase(),
    );
    if (native === undefined || asset.chain !== 'evm') return undefined;
    const amount = await this.#reader(asset).fee(txHash.toLowerCase());
    return amount === undefined ? undefined : { asset: native.id, amount };
  }

  /** Balance of `address` in `asset` (native or ERC-20), base units: for reconciliation. */
  async balanceOf(asset: AssetConfig, address: string): Promise<bigint> {
    const reader = this.#reader(asset);
    if (asset.kind === 'native') return reader.balance(address);
    return reader.tokenBalance(asset.contract ?? '', address);
  }

  #reader(asset: AssetConfig): EvmReader {
    refuseUnsupportedChain(asset);
    if (this.#chain === undefined)
      throw new OtcError('custody-error', 'no EVM RPC endpoint is configured', 'custody.evmRpcUrl');
    return this.#chain;
  }

  /** Asks every node at once; two different requests under one key are refused, never picked from. */
  async #lookupAll(key: string): Promise<Lookup> {
    const answers = await Promise.allSettled(this.#nodes.map((n) => n.requestByIdempotencyKey(key)));
    const out: Lookup = { answered: new Set(), problems: [], views: [] };
    for (const [i, a] of answers.entries()) {
      const url = this.#nodes[i]!.url;
      if (a.status === 'rejected') {
        out.problems.push(describe(a.reason, url));
        continue;
      }
      out.answered.add(url);
      if (a.value === undefined) continue;
      out.views.push(a.value);
      if (out.found && out.found.view.id !== a.value.id)
        throw new OtcError(
          'custody-error',
          `two node requests under ${key}: ${out.found.view.id} and ${a.value.id}; an operator must look`,
          'idempotencyKey',
          { requests: [out.found.view.id, a.value.id] },
        );
      out.found ??= { view: a.value, node: url };
    }
    return out;
  }

  /** A create went unanswered: look again (bounded) before saying the outcome is unknown. */
  async #afterUnanswered(
    url: string,
    body: TransferRequestBody,
    cause: CofferConnectionError,
  ): Promise<ReleaseStatus> {
    this.#remember(body.idempotencyKey, url);
    for (let attempt = 0; attempt < LOOKUPS_AFTER_TIMEOUT; attempt++) {
      await new Promise((r) => setTimeout(r, this.#pollMs));
      const seen = await this.#lookupAll(body.idempotencyKey).catch(() => undefined);
      if (seen?.found) return this.#accept(seen.found, body);
    }
    throw new OtcError(
      'custody-error',
      `${cause.code === 'timeout' ? `no answer from ${url} within ${this.#timeoutMs} ms` : `lost the connection to ${url}`}; the transfer may still be created there — release again later: it looks the key up before creating anything`,
      undefined,
      { outcome: 'unknown', node: url, idempotencyKey: body.idempotencyKey },
    );
  }

  #remember(key: string, url: string): void {
    this.#uncertain.delete(key);
    this.#uncertain.set(key, url);
    if (this.#uncertain.size > MAX_UNCERTAIN) this.#uncertain.delete(this.#uncertain.keys().next().value!);
  }

  /** A request found or created under the key must be this release's transfer, field for field. */
  #accept(found: Found, body: TransferRequestBody): ReleaseStatus {
    this.#uncertain.delete(body.idempotencyKey);
    const mismatch = differingField(found.view, body);
    if (mismatch !== undefined)
      throw new OtcError(
        'custody-error',
        `node request ${found.view.id} under ${body.idempotencyKey} has another ${mismatch} than this release; an operator must look`,
        mismatch,
        { requestId: found.view.id },
      );
    return toStatus(found.view);
  }
}

/** Bitcoin and TRON: refused before anything is contacted. */
export function refuseUnsupportedChain(asset: AssetConfig): void {
  if (typeof asset !== 'object' || asset === null) throw invalid('asset', 'must be an asset configuration');
  if (asset.chain !== 'evm')
    throw new OtcError(
      'unsupported-chain',
      `the signer nodes do not yet build ${String(asset.chain)} transfers, so ${String(asset.id)} cannot be released; only EVM assets can`,
      'asset',
    );
}

/** The node's transfer body for a release, every field checked (errors name it). */
export function transferBody(input: ReleaseInput): TransferRequestBody {
  if (typeof input !== 'object' || input === null) throw invalid('release', 'must be an object');
  const { asset } = input;
  refuseUnsupportedChain(asset);
  const key = input.idempotencyKey ?? releaseIdempotencyKey(input.orderId);
  if (!ORDER_ID.test(String(input.orderId))) throw invalid('orderId', 'must be 1–100 letters, digits, _ . -');
  if (!isReleaseKey(key, input.orderId))
    throw invalid(
      'idempotencyKey',
      `must be otc:${input.orderId}:release or otc:${input.orderId}:release:<n>`,
    );
  if (typeof input.amount !== 'bigint' || input.amount <= 0n || input.amount > MAX_AMOUNT)
    throw invalid('amount', 'must be a positive integer of base units below 2^256');
  if (typeof input.reference !== 'string' || input.reference.length > 200)
    throw invalid('reference', 'must be a string of at most 200 characters');
  if (!WALLET.test(String(asset.wallet))) throw invalid('asset.wallet', 'must be a policy wallet id');
  if (!KEY_ID.test(String(asset.keyId))) throw invalid('asset.keyId', 'must be 64 lowercase hex digits');
  if (asset.path !== undefined && !PATH.test(asset.path))
    throw invalid('asset.path', 'must be a non-hardened path such as m/0/7');
  if (asset.kind !== 'native' && asset.kind !== 'token')
    throw invalid('asset.kind', 'must be native or token');
  return {
    wallet: asset.wallet,
    keyId: asset.keyId,
    ...(asset.path !== undefined ? { path: asset.path } : {}),
    chain: 'evm',
    asset:
      asset.kind === 'native'
        ? { kind: 'native' }
        : { kind: 'token', contract: checkAddress(asset.contract, 'asset.contract') },
    to: checkAddress(input.to, 'to'),
    amount: input.amount.toString(),
    idempotencyKey: key,
    reference: input.reference,
  };
}

function differingField(view: RequestView, body: TransferRequestBody): string | undefined {
  const intent = view.intent;
  if (view.kind !== 'transfer' || intent === null) return 'kind';
  if (view.wallet !== body.wallet) return 'asset.wallet';
  if (view.keyId !== body.keyId) return 'asset.keyId';
  if (intent.to.toLowerCase() !== body.to) return 'to';
  if (intent.amount !== body.amount) return 'amount';
  const contract = body.asset.kind === 'token' ? body.asset.contract : undefined;
  if (intent.asset.kind !== body.asset.kind || intent.asset.contract?.toLowerCase() !== contract)
    return 'asset';
  return undefined;
}

export function toStatus(view: RequestView): ReleaseStatus {
  const reasons = view.decision?.reasons ?? [];
  return {
    requestId: view.id,
    nodeStatus: view.status,
    signers: view.signers,
    ...(view.txHash !== null ? { txHash: view.txHash } : {}),
    ...(view.error !== null ? { error: view.error } : {}),
    ...(view.decision !== null ? { decisionOutcome: view.decision.outcome } : {}),
    ...(reasons.length > 0 ? { reasons: reasons.map((r) => `${r.code}: ${r.detail}`) } : {}),
  };
}

function checkConfig(c: CustodyConfig): CustodyConfig {
  if (typeof c !== 'object' || c === null) throw invalid('custody', 'must be an object');
  if (!Array.isArray(c.nodes) || c.nodes.length === 0 || c.nodes.length > 16)
    throw invalid('custody.nodes', 'must list 1 to 16 signer-node URLs');
  if (new Set(c.nodes).size !== c.nodes.length) throw invalid('custody.nodes', 'lists a node twice');
  if (typeof c.apiKey !== 'string' || c.apiKey.length === 0) throw invalid('custody.apiKey', 'is required');
  for (const name of ['requestTimeoutMs', 'pollMs'] as const)
    if (!Number.isInteger(c[name]) || c[name] < 1 || c[name] > 600_000)
      throw invalid(`custody.${name}`, 'must be an integer from 1 to 600000 (ms)');
  if (c.evmRpcUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(c.evmRpcUrl))
    throw invalid('custody.evmRpcUrl', 'must be an http(s) URL');
  return c;
}

/** The order's first release key or an operator's retry (`…:release:<2–999>`). */
function isReleaseKey(key: unknown, orderId: string): boolean {
  const base = `otc:${orderId}:release`;
  if (typeof key !== 'string' || !key.startsWith(base)) return false;
  const rest = key.slice(base.length);
  return rest === '' || /^:([2-9]|[1-9][0-9]{1,2})$/.test(rest);
}

function describe(e: unknown, url: string): string {
  if (e instanceof CofferConnectionError) return `${url}: ${e.code}`;
  if (e instanceof CofferApiError) return `${url}: ${e.status} ${e.code}`;
  if (e instanceof CofferResponseError) return `${url}: bad response (${e.field})`;
  return `${url}: ${(e as Error).message ?? 'error'}`;
}

function noNodeAnswered(problems: string[]): OtcError {
  return new OtcError('custody-error', `no signer node answered (${problems.join('; ')})`, 'custody.nodes', {
    nodes: problems,
  });
}

/** A node's refusal, with its code, field and reason; the API key is never in a client error. */
function nodeFailure(e: unknown, url: string): OtcError {
  if (e instanceof CofferApiError)
    return new OtcError('custody-error', `signer node ${url} refused: ${e.code}: ${e.message}`, undefined, {
      node: url,
      nodeStatus: e.status,
      nodeCode: e.code,
      ...(e.field !== undefined ? { nodeField: e.field } : {}),
      ...(e.reason !== undefined ? { nodeReason: e.reason } : {}),
    });
  if (e instanceof OtcError) return e;
  return new OtcError('custody-error', `signer node ${url}: ${describe(e, url)}`, undefined, { node: url });
}
