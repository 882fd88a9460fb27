// Typed client for the Coffer signer-node API (signer-node/src/api/server.ts): one method per /v1
// route, a bounded timeout on every call, and two error types a caller can narrow on —
// CofferApiError (the node answered with {code, message, field?, culprits?}) and
// CofferConnectionError (the node could not be reached or did not answer in time). Responses are
// checked for the fields this client returns before they are handed out; error text never carries
// the API key, a response body that is not the API's error shape, or a stack.

export type SchemeId = 'ecdsa-secp256k1' | 'schnorr-secp256k1-tr' | 'eddsa-ed25519';
export const SCHEME_IDS: readonly SchemeId[] = ['ecdsa-secp256k1', 'schnorr-secp256k1-tr', 'eddsa-ed25519'];

export type SessionStatus = 'running' | 'done' | 'aborted' | 'timed-out';
export const SESSION_STATUSES: readonly SessionStatus[] = ['running', 'done', 'aborted', 'timed-out'];

export type Wallet = {
  id: string;
  scheme: SchemeId;
  threshold: number;
  parties: number;
  publicKey: string;
  chainCode: string;
  label: string | null;
  lockedReason: string | null;
  participants: string[];
  createdAt: string;
  /** Present on `wallet(id)` and `keygen`: `evm`, `tron`, `bitcoinP2wpkh` (ECDSA) or `bitcoinP2tr` (Taproot). */
  addresses?: Record<string, string>;
};

export type Session = {
  id: string;
  kind: string;
  scheme: string;
  walletId: string | null;
  coordinator: string;
  participants: string[];
  status: SessionStatus;
  round: number;
  reason: string | null;
  culprits: string[];
  createdAt: string;
  updatedAt: string;
};

export type Peers = {
  self: { id: string; identityKey: string };
  peers: Array<{ id: string; url: string; identityKey: string; banned: boolean }>;
};

export type RequestStatus =
  | 'submitted'
  | 'pending-approvals'
  | 'delayed'
  | 'approved'
  | 'signing'
  | 'signed'
  | 'broadcast'
  | 'confirmed'
  | 'denied'
  | 'cancelled'
  | 'expired'
  | 'failed';
export const REQUEST_STATUSES: readonly RequestStatus[] = [
  'submitted',
  'pending-approvals',
  'delayed',
  'approved',
  'signing',
  'signed',
  'broadcast',
  'confirmed',
  'denied',
  'cancelled',
  'expired',
  'failed',
];

/** `native`, or an ERC-20 / TRC-20 token by contract. */
export type AssetRef = { kind: 'native' } | { kind: 'token'; contract: string };

/** A decoded transfer intent as the node reports it (amounts are decimal strings of base units). */
export type TransferIntentView = {
  chain: string;
  network: string;
  asset: { kind: 'native' | 'token'; contract?: string; symbol: string; decimals: number };
  from: string;
  to: string;
  amount: string;
  fee: string;
};

export type PolicyOutcome = 'allow' | 'deny' | 'needs-approvals' | 'delayed';

/** A @coffer/policy Decision; `trace` is passed on as the node sent it (an object). */
export type PolicyDecision = {
  outcome: PolicyOutcome;
  policyVersion: number;
  policyDigest: string;
  requestDigest: string;
  evaluatedAtMs: number;
  reasons: Array<{ code: string; detail: string }>;
  delay?: { delayedUntilMs: number; vetoWindow: { fromMs: number; toMs: number } };
  trace: Record<string, unknown>;
};

/** A transfer or raw-digest request (signer-node/docs/policy-api.md, "Request view"). */
export type RequestView = {
  id: string;
  kind: 'transfer' | 'raw-digest';
  status: RequestStatus;
  wallet: string;
  keyId: string;
  path: string;
  operator: string;
  /** What approvers sign (SHA-256 over the canonical PolicyRequest). */
  requestDigest: string;
  /** When the coordinator received it and the id the digest commits to (needed to recompute it). */
  submittedAtMs: number | null;
  requestId: string | null;
  intent: TransferIntentView | null;
  unsignedTransaction: string | null;
  /** Raw-digest requests: the digest to be signed. */
  digest: string | null;
  decision: PolicyDecision | null;
  approvals: Array<{ approverId: string; approvedAtMs: number; expiresAtMs: number }>;
  signature: string | null;
  signedTransaction: string | null;
  txHash: string | null;
  signers: string[];
  history: Array<{ status: string; at: string }>;
  error: string | null;
  createdAt: string;
  updatedAt: string;
};

export type TransferRequestBody = {
  /** Policy wallet id. */
  wallet: string;
  /** The threshold key (64 hex) and derivation path the wallet uses. */
  keyId: string;
  path?: string;
  chain: 'evm' | 'bitcoin' | 'tron';
  asset: AssetRef;
  to: string;
  /** Base units, decimal string. */
  amount: string;
  idempotencyKey: string;
  reference?: string;
  unsignedTransaction?: string;
  priceSnapshot?: Record<string, unknown>;
};

/** Approval wire (`@coffer/policy/wire`): the approver's Ed25519 signature over the request digest. */
export type ApprovalWire = {
  approverId: string;
  requestDigest: string;
  approvedAtMs: number;
  expiresAtMs: number;
  signature: string;
};

export type VetoWire = { approverId: string; requestDigest: string; vetoedAtMs: number; signature: string };

export type PolicyVersionInfo = { version: number; digest: string; activeFromMs: number };

export type PolicyStatus = {
  active: PolicyVersionInfo | null;
  versions: Array<PolicyVersionInfo & Record<string, unknown>>;
};

export type AuditVerification = { ok: boolean; entries: number; checkpoints: number; problems: string[] };

export type Health = { status: string; node: string };

export type KeygenRequest = {
  scheme: SchemeId;
  threshold: number;
  parties: number;
  /** Node ids taking part (this node plus peers); default: this node and the first peers. */
  nodes?: string[];
  label?: string;
};

export type SignRequest = {
  /** The threshold key (64 hex), sent as `keyId`. */
  walletId: string;
  /** The policy wallet the digest is signed for (default: the key id); a policy rule must allow raw digests. */
  wallet?: string;
  /** Hex: 32 bytes for the secp256k1 schemes, the message itself (1–4096 bytes) for eddsa-ed25519. */
  digest: string;
  /** BIP32 non-hardened path such as `m/0/7` (not for eddsa-ed25519). */
  path?: string;
  idempotencyKey?: string;
};

/** The node answered with an error: its stable `code`, message, and the field or culprits it named. */
export class CofferApiError extends Error {
  override readonly name = 'CofferApiError';
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly culprits: string[] | undefined;
  /** A refused approval: the policy engine's reason (`expired`, `initiator`, `bad-signature`, …). */
  readonly reason: string | undefined;
  constructor(a: {
    status: number;
    code: string;
    message: string;
    field?: string;
    culprits?: string[];
    reason?: string;
  }) {
    super(a.message);
    this.status = a.status;
    this.code = a.code;
    this.field = a.field;
    this.culprits = a.culprits;
    this.reason = a.reason;
  }
  toJSON() {
    return {
      status: this.status,
      code: this.code,
      message: this.message,
      ...(this.field !== undefined ? { field: this.field } : {}),
      ...(this.culprits !== undefined ? { culprits: this.culprits } : {}),
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
    };
  }
}

/**
 * No answer from the node: `unreachable` (connection refused, DNS, reset) or `timeout` (no
 * complete answer within the call's timeout; a keygen or sign may still complete on the node — look
 * it up, or retry a sign with the same idempotency key).
 */
export class CofferConnectionError extends Error {
  override readonly name = 'CofferConnectionError';
  readonly code: 'unreachable' | 'timeout';
  readonly url: string;
  constructor(code: 'unreachable' | 'timeout', url: string, message: string) {
    super(message);
    this.code = code;
    this.url = url;
  }
  toJSON() {
    return { code: this.code, message: this.message, url: this.url };
  }
}

/** The node answered 2xx but not with the shape this client expects (a wrong URL or version). */
export class CofferResponseError extends Error {
  override readonly name = 'CofferResponseError';
  readonly code = 'bad-response';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
  toJSON() {
    return { code: this.code, message: this.message, field: this.field };
  }
}

export type CofferClientOptions = {
  /** Base URL of one signer node, e.g. `http://127.0.0.1:7001`. */
  url: string;
  /** Bearer API key; needed for every /v1 route. */
  apiKey?: string;
  /** Timeout of reads and other short calls; default 15 s. */
  timeoutMs?: number;
  /** Timeout of key generation and signing, which run a protocol across nodes; default 120 s. */
  sessionTimeoutMs?: number;
};

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_SESSION_TIMEOUT_MS = 120_000;
const MAX_TIMEOUT_MS = 3_600_000;
const HEX64 = /^[0-9a-f]{64}$/;

export class CofferClient {
  readonly url: string;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number;
  readonly #sessionTimeoutMs: number;

  constructor(opts: CofferClientOptions) {
    this.url = normaliseUrl(opts.url);
    if (opts.apiKey !== undefined && !/^[\x21-\x7e]{1,512}$/.test(opts.apiKey))
      throw new TypeError('apiKey must be 1–512 printable ASCII characters');
    this.#apiKey = opts.apiKey;
    this.#timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs');
    this.#sessionTimeoutMs = checkTimeout(
      opts.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      'sessionTimeoutMs',
    );
  }

  /** The key is never printed. */
  toJSON() {
    return { url: this.url, apiKey: this.#apiKey ? '<redacted>' : undefined };
  }
  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `CofferClient { url: '${this.url}', apiKey: ${this.#apiKey ? '<redacted>' : 'none'} }`;
  }

  /** `POST /v1/keys` (admin): distributed key generation; returns the new wallet with its addresses. */
  async keygen(req: KeygenRequest): Promise<Wallet> {
    const body = await this.#call('POST', '/v1/keys', { body: req, timeoutMs: this.#sessionTimeoutMs });
    return decodeWallet(body, 'wallet');
  }

  /** `GET /v1/wallets`: wallets this node holds a share of. */
  async wallets(): Promise<Wallet[]> {
    const body = await this.#call('GET', '/v1/wallets');
    return array(field(body, 'wallets', 'object'), 'wallets').map((w, i) => decodeWallet(w, `wallets[${i}]`));
  }

  /** `GET /v1/wallets/:id`: one wallet with its addresses. */
  async wallet(id: string): Promise<Wallet> {
    requireHex64(id, 'id');
    return decodeWallet(await this.#call('GET', `/v1/wallets/${id}`), 'wallet');
  }

  /**
   * `POST /v1/sign` (maker, admin): a raw-digest request. Resolves with the request once signed, or
   * waiting (approvals, delay); a policy denial is CofferApiError `policy-denied` (403).
   */
  async sign(req: SignRequest): Promise<RequestView> {
    const { walletId, ...rest } = req;
    const body = await this.#call('POST', '/v1/sign', {
      body: { keyId: walletId, ...rest },
      timeoutMs: this.#sessionTimeoutMs,
    });
    return decodeRequestView(body);
  }

  /** `POST /v1/transfers` (maker): a transfer request; the same idempotency key returns the same request. */
  async createTransfer(body: TransferRequestBody): Promise<RequestView> {
    return decodeRequestView(await this.#call('POST', '/v1/transfers', { body }));
  }

  /** `GET /v1/requests/:id`: a transfer or raw-digest request with its decision and lifecycle. */
  async request(id: string): Promise<RequestView> {
    requireRequestId(id);
    return decodeRequestView(await this.#call('GET', `/v1/requests/${id}`));
  }

  /**
   * `GET /v1/requests?status=&idempotencyKey=`: requests, optionally in one status; with
   * `idempotencyKey`, only those submitted under it (a maker key sees its own operator's).
   */
  async requests(opts: { status?: RequestStatus; idempotencyKey?: string } = {}): Promise<RequestView[]> {
    const q = new URLSearchParams();
    if (opts.status !== undefined) {
      if (!REQUEST_STATUSES.includes(opts.status))
        throw new TypeError(`status must be one of ${REQUEST_STATUSES.join(', ')}`);
      q.set('status', opts.status);
    }
    if (opts.idempotencyKey !== undefined) {
      requireIdempotencyKey(opts.idempotencyKey);
      q.set('idempotencyKey', opts.idempotencyKey);
    }
    const body = await this.#call('GET', `/v1/requests${q.size > 0 ? `?${q}` : ''}`);
    return array(field(body, 'requests', 'object'), 'requests').map((r, i) =>
      decodeRequestView(r, `requests[${i}]`),
    );
  }

  /**
   * The request submitted under `key` by `operator` (default: the one operator the node returns, which
   * for a maker key is its own), or undefined when this node knows none. A caller whose submission
   * timed out asks this before submitting again. An admin or auditor key sees every operator's: with
   * several and no `operator`, this throws CofferResponseError rather than pick one.
   */
  async requestByIdempotencyKey(
    key: string,
    opts: { operator?: string } = {},
  ): Promise<RequestView | undefined> {
    const found = (await this.requests({ idempotencyKey: key })).filter(
      (r) => opts.operator === undefined || r.operator === opts.operator,
    );
    for (const [i, r] of found.entries())
      if (r.requestId !== null && r.requestId !== key)
        throw new CofferResponseError(
          `requests[${i}].requestId`,
          'the node returned a request under another key',
        );
    if (found.length > 1)
      throw new CofferResponseError(
        'requests',
        `${found.length} operators used idempotency key "${key}"; name the operator`,
      );
    return found[0];
  }

  /** `POST /v1/requests/:id/approvals` (approver): a refused approval is 422 `approval-rejected`. */
  async approve(id: string, approval: ApprovalWire): Promise<RequestView> {
    requireRequestId(id);
    return decodeRequestView(await this.#call('POST', `/v1/requests/${id}/approvals`, { body: approval }));
  }

  /** `POST /v1/requests/:id/vetoes` (approver): cancels the request. */
  async veto(id: string, veto: VetoWire): Promise<RequestView> {
    requireRequestId(id);
    return decodeRequestView(await this.#call('POST', `/v1/requests/${id}/vetoes`, { body: veto }));
  }

  /** `POST /v1/requests/:id/cancel` (the maker who initiated it), before signing. */
  async cancel(id: string): Promise<RequestView> {
    requireRequestId(id);
    return decodeRequestView(await this.#call('POST', `/v1/requests/${id}/cancel`, { body: {} }));
  }

  /** `GET /v1/policy`: the active version and every version this node knows. */
  async policy(): Promise<PolicyStatus> {
    const body = await this.#call('GET', '/v1/policy');
    const active = body.active === null ? null : decodeVersionInfo(field(body, 'active', 'object'), 'active');
    const versions = array(field(body, 'versions', 'object'), 'versions').map((v, i) => ({
      ...(v as Record<string, unknown>),
      ...decodeVersionInfo(v, `versions[${i}]`),
    }));
    return { active, versions };
  }

  /** `POST /v1/policy/versions` (policy-admin): a SignedPolicyVersion (wire JSON). */
  async publishPolicyVersion(signed: Record<string, unknown>): Promise<PolicyVersionInfo> {
    return decodeVersionInfo(await this.#call('POST', '/v1/policy/versions', { body: signed }), 'body');
  }

  /** `POST /v1/policy/dry-run`: evaluates a transfer without side effects. */
  async dryRun(body: TransferRequestBody & { approvals?: ApprovalWire[] }): Promise<PolicyDecision> {
    const res = await this.#call('POST', '/v1/policy/dry-run', { body });
    return decodeDecision(field(res, 'decision', 'object'), 'decision');
  }

  /** `GET /v1/sessions` (admin, auditor): newest first. */
  async sessions(opts: { status?: SessionStatus; limit?: number } = {}): Promise<Session[]> {
    const q = new URLSearchParams();
    if (opts.status !== undefined) q.set('status', opts.status);
    if (opts.limit !== undefined) {
      if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > 1000)
        throw new TypeError('limit must be an integer from 1 to 1000');
      q.set('limit', String(opts.limit));
    }
    const qs = q.size > 0 ? `?${q}` : '';
    const body = await this.#call('GET', `/v1/sessions${qs}`);
    return array(field(body, 'sessions', 'object'), 'sessions').map((s, i) => decodeSession(s, i));
  }

  /** `GET /v1/peers` (admin, auditor): this node's identity, pinned peers and bans. */
  async peers(): Promise<Peers> {
    const body = await this.#call('GET', '/v1/peers');
    const self = field(body, 'self', 'object') as Record<string, unknown>;
    return {
      self: {
        id: field(self, 'id', 'string', 'self'),
        identityKey: field(self, 'identityKey', 'string', 'self'),
      },
      peers: array(field(body, 'peers', 'object'), 'peers').map((p, i) => {
        const at = `peers[${i}]`;
        return {
          id: field(p, 'id', 'string', at),
          url: field(p, 'url', 'string', at),
          identityKey: field(p, 'identityKey', 'string', at),
          banned: field(p, 'banned', 'boolean', at),
        };
      }),
    };
  }

  /** `POST /v1/peers/:id/clear-ban` (admin): `cleared` is false when the peer was not banned. */
  async clearBan(peerId: string): Promise<{ cleared: boolean }> {
    if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(peerId)) throw new TypeError('peerId is not a node id');
    const body = await this.#call('POST', `/v1/peers/${peerId}/clear-ban`);
    return { cleared: field(body, 'cleared', 'boolean') };
  }

  /** `GET /v1/audit/verify` (admin, auditor): the node walks its hash chain and checkpoint signatures. */
  async auditVerify(): Promise<AuditVerification> {
    const body = await this.#call('GET', '/v1/audit/verify');
    return {
      ok: field(body, 'ok', 'boolean'),
      entries: field(body, 'entries', 'number'),
      checkpoints: field(body, 'checkpoints', 'number'),
      problems: array(field(body, 'problems', 'object'), 'problems').map((p, i) => str(p, `problems[${i}]`)),
    };
  }

  /** `GET /healthz`: the process is up. */
  async health(): Promise<Health> {
    const body = await this.#call('GET', '/healthz', { auth: false });
    return { status: field(body, 'status', 'string'), node: field(body, 'node', 'string') };
  }

  /** `GET /readyz`: the node can serve (database reachable); a 503 throws CofferApiError `not-ready`. */
  async ready(): Promise<Health> {
    const body = await this.#call('GET', '/readyz', { auth: false });
    return { status: field(body, 'status', 'string'), node: field(body, 'node', 'string') };
  }

  async #call(
    method: 'GET' | 'POST',
    path: string,
    opts: { body?: unknown; timeoutMs?: number; auth?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.auth !== false && this.#apiKey !== undefined) headers.authorization = `Bearer ${this.#apiKey}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const target = `${this.url}${path}`;
    let res: Response;
    let text: string;
    try {
      // One signal covers connect, headers and body: the whole call is bounded.
      const signal = AbortSignal.timeout(timeoutMs);
      res = await fetch(target, {
        method,
        headers,
        signal,
        redirect: 'error',
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      });
      text = await res.text();
    } catch (e) {
      throw connectionError(e, this.url, `${method} ${path}`, timeoutMs);
    }
    let parsed: unknown;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) throw apiError(res.status, parsed);
    if (!isRecord(parsed))
      throw new CofferResponseError('body', `${method} ${path}: response is not a JSON object`);
    return parsed;
  }
}

function normaliseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new TypeError('url is not a valid URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError('url must be http(s)');
  if (u.username || u.password) throw new TypeError('url must not carry credentials; use apiKey');
  if (u.search || u.hash) throw new TypeError('url must not carry a query or fragment');
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

function checkTimeout(ms: number, name: string): number {
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_TIMEOUT_MS)
    throw new TypeError(`${name} must be an integer from 1 to ${MAX_TIMEOUT_MS}`);
  return ms;
}

function connectionError(e: unknown, url: string, what: string, timeoutMs: number): CofferConnectionError {
  const err = e as { name?: string; cause?: { code?: string; name?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError' || err.cause?.name === 'TimeoutError')
    return new CofferConnectionError('timeout', url, `${what}: no answer from ${url} within ${timeoutMs} ms`);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const reason =
    typeof cause?.code === 'string'
      ? cause.code
      : typeof cause?.message === 'string'
        ? cause.message.slice(0, 200)
        : 'connection failed';
  return new CofferConnectionError('unreachable', url, `${what}: cannot reach ${url} (${reason})`);
}

/** Only the API's own error shape is passed on; anything else becomes a generic `http-<status>`. */
function apiError(status: number, body: unknown): CofferApiError {
  if (isRecord(body) && typeof body.code === 'string' && typeof body.message === 'string') {
    const culprits =
      Array.isArray(body.culprits) && body.culprits.every((c) => typeof c === 'string')
        ? (body.culprits as string[])
        : undefined;
    return new CofferApiError({
      status,
      code: body.code.slice(0, 100),
      message: body.message.slice(0, 2000),
      ...(typeof body.field === 'string' ? { field: body.field } : {}),
      ...(culprits ? { culprits } : {}),
      ...(typeof body.reason === 'string' && /^[a-z0-9-]{1,64}$/.test(body.reason)
        ? { reason: body.reason }
        : {}),
    });
  }
  return new CofferApiError({
    status,
    code: `http-${status}`,
    message: `HTTP ${status} without an API error body`,
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type Kind = { string: string; number: number; boolean: boolean; object: unknown };

function field<K extends keyof Kind>(v: unknown, name: string, kind: K, at?: string): Kind[K] {
  const where = at ? `${at}.${name}` : name;
  if (!isRecord(v)) throw new CofferResponseError(at ?? 'body', `response ${at ?? 'body'} is not an object`);
  const x = v[name];
  const ok = kind === 'object' ? typeof x === 'object' && x !== null : typeof x === kind;
  if (!ok) throw new CofferResponseError(where, `response field ${where} is missing or not a ${kind}`);
  return x as Kind[K];
}

function nullableString(v: Record<string, unknown>, name: string, at: string): string | null {
  const x = v[name];
  if (x === null || x === undefined) return null;
  if (typeof x !== 'string')
    throw new CofferResponseError(`${at}.${name}`, `response field ${at}.${name} is not a string`);
  return x;
}

function array(v: unknown, at: string): unknown[] {
  if (!Array.isArray(v)) throw new CofferResponseError(at, `response field ${at} is not an array`);
  return v;
}

function str(v: unknown, at: string): string {
  if (typeof v !== 'string') throw new CofferResponseError(at, `response field ${at} is not a string`);
  return v;
}

function requireHex64(v: string, name: string): void {
  if (!HEX64.test(v)) throw new TypeError(`${name} must be 64 lowercase hex characters`);
}

function decodeWallet(v: unknown, at: string): Wallet {
  const w = v as Record<string, unknown>;
  const scheme = field(w, 'scheme', 'string', at);
  if (!(SCHEME_IDS as readonly string[]).includes(scheme))
    throw new CofferResponseError(`${at}.scheme`, `response field ${at}.scheme is not a known scheme`);
  const out: Wallet = {
    id: field(w, 'id', 'string', at),
    scheme: scheme as SchemeId,
    threshold: field(w, 'threshold', 'number', at),
    parties: field(w, 'parties', 'number', at),
    publicKey: field(w, 'publicKey', 'string', at),
    chainCode: field(w, 'chainCode', 'string', at),
    label: nullableString(w, 'label', at),
    lockedReason: nullableString(w, 'lockedReason', at),
    participants: array(field(w, 'participants', 'object', at), `${at}.participants`).map((p, i) =>
      str(p, `${at}.participants[${i}]`),
    ),
    createdAt: field(w, 'createdAt', 'string', at),
  };
  if (w.addresses !== undefined) {
    const a = field(w, 'addresses', 'object', at) as Record<string, unknown>;
    out.addresses = Object.fromEntries(
      Object.entries(a).map(([k, x]) => [k, str(x, `${at}.addresses.${k}`)]),
    );
  }
  return out;
}

function decodeSession(v: unknown, i: number): Session {
  const at = `sessions[${i}]`;
  const s = v as Record<string, unknown>;
  const status = field(s, 'status', 'string', at);
  if (!(SESSION_STATUSES as readonly string[]).includes(status))
    throw new CofferResponseError(`${at}.status`, `response field ${at}.status is not a session status`);
  return {
    id: field(s, 'id', 'string', at),
    kind: field(s, 'kind', 'string', at),
    scheme: field(s, 'scheme', 'string', at),
    walletId: nullableString(s, 'walletId', at),
    coordinator: field(s, 'coordinator', 'string', at),
    participants: array(field(s, 'participants', 'object', at), `${at}.participants`).map((p, j) =>
      str(p, `${at}.participants[${j}]`),
    ),
    status: status as SessionStatus,
    round: field(s, 'round', 'number', at),
    reason: nullableString(s, 'reason', at),
    culprits: array(field(s, 'culprits', 'object', at), `${at}.culprits`).map((c, j) =>
      str(c, `${at}.culprits[${j}]`),
    ),
    createdAt: field(s, 'createdAt', 'string', at),
    updatedAt: field(s, 'updatedAt', 'string', at),
  };
}

function requireIdempotencyKey(key: string): void {
  if (!/^[\x21-\x7e]{1,128}$/.test(key))
    throw new TypeError('idempotencyKey must be 1–128 printable ASCII characters without spaces');
}

function requireRequestId(id: string): void {
  if (!/^req-[0-9a-f]{24}$/.test(id)) throw new TypeError('id must look like req-<24 hex>');
}

function record(v: unknown, at: string): Record<string, unknown> {
  if (!isRecord(v)) throw new CofferResponseError(at, `response field ${at} is not an object`);
  return v;
}

function integerField(v: Record<string, unknown>, name: string, at: string): number {
  const x = field(v, name, 'number', at);
  if (!Number.isSafeInteger(x))
    throw new CofferResponseError(`${at}.${name}`, `response field ${at}.${name} is not an integer`);
  return x;
}

function oneOfField<T extends string>(
  v: Record<string, unknown>,
  name: string,
  allowed: readonly T[],
  at: string,
): T {
  const x = field(v, name, 'string', at);
  if (!(allowed as readonly string[]).includes(x))
    throw new CofferResponseError(
      `${at}.${name}`,
      `response field ${at}.${name} is not one of ${allowed.join(', ')}`,
    );
  return x as T;
}

function nullable<T>(v: Record<string, unknown>, name: string, decode: (x: unknown) => T): T | null {
  const x = v[name];
  return x === null || x === undefined ? null : decode(x);
}

const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;

function decodeIntent(v: unknown, at: string): TransferIntentView {
  const o = record(v, at);
  const asset = record(o.asset, `${at}.asset`);
  const decimals = integerField(asset, 'decimals', `${at}.asset`);
  const out: TransferIntentView = {
    chain: field(o, 'chain', 'string', at),
    network: field(o, 'network', 'string', at),
    asset: {
      kind: oneOfField(asset, 'kind', ['native', 'token'] as const, `${at}.asset`),
      symbol: field(asset, 'symbol', 'string', `${at}.asset`),
      decimals,
    },
    from: field(o, 'from', 'string', at),
    to: field(o, 'to', 'string', at),
    amount: field(o, 'amount', 'string', at),
    fee: field(o, 'fee', 'string', at),
  };
  if (asset.contract !== undefined) out.asset.contract = field(asset, 'contract', 'string', `${at}.asset`);
  for (const name of ['amount', 'fee'] as const)
    if (!DECIMAL.test(out[name]))
      throw new CofferResponseError(`${at}.${name}`, `response field ${at}.${name} is not a decimal amount`);
  return out;
}

function decodeDecision(v: unknown, at: string): PolicyDecision {
  const o = record(v, at);
  const out: PolicyDecision = {
    outcome: oneOfField(o, 'outcome', ['allow', 'deny', 'needs-approvals', 'delayed'] as const, at),
    policyVersion: integerField(o, 'policyVersion', at),
    policyDigest: field(o, 'policyDigest', 'string', at),
    requestDigest: field(o, 'requestDigest', 'string', at),
    evaluatedAtMs: integerField(o, 'evaluatedAtMs', at),
    reasons: array(field(o, 'reasons', 'object', at), `${at}.reasons`).map((r, i) => ({
      code: field(r, 'code', 'string', `${at}.reasons[${i}]`),
      detail: field(r, 'detail', 'string', `${at}.reasons[${i}]`),
    })),
    trace: record(o.trace, `${at}.trace`),
  };
  if (o.delay !== undefined && o.delay !== null) {
    const d = record(o.delay, `${at}.delay`);
    const w = record(d.vetoWindow, `${at}.delay.vetoWindow`);
    out.delay = {
      delayedUntilMs: integerField(d, 'delayedUntilMs', `${at}.delay`),
      vetoWindow: {
        fromMs: integerField(w, 'fromMs', `${at}.delay.vetoWindow`),
        toMs: integerField(w, 'toMs', `${at}.delay.vetoWindow`),
      },
    };
  }
  return out;
}

function decodeVersionInfo(v: unknown, at: string): PolicyVersionInfo {
  const o = record(v, at);
  return {
    version: integerField(o, 'version', at),
    digest: field(o, 'digest', 'string', at),
    activeFromMs: integerField(o, 'activeFromMs', at),
  };
}

function decodeRequestView(v: unknown, at = 'request'): RequestView {
  const o = record(v, at);
  // submittedAtMs and requestId may sit at the top level or inside the request's wire form.
  const wire = isRecord(o.request) ? o.request : o;
  const wireAt = isRecord(o.request) ? `${at}.request` : at;
  const str = (name: string) => (x: unknown) => {
    if (typeof x !== 'string')
      throw new CofferResponseError(`${at}.${name}`, `response field ${at}.${name} is not a string`);
    return x;
  };
  return {
    id: field(o, 'id', 'string', at),
    kind: oneOfField(o, 'kind', ['transfer', 'raw-digest'] as const, at),
    status: oneOfField(o, 'status', REQUEST_STATUSES, at),
    wallet: field(o, 'wallet', 'string', at),
    keyId: field(o, 'keyId', 'string', at),
    path: field(o, 'path', 'string', at),
    operator: field(o, 'operator', 'string', at),
    requestDigest: field(o, 'requestDigest', 'string', at),
    submittedAtMs: wire.submittedAtMs === undefined ? null : integerField(wire, 'submittedAtMs', wireAt),
    requestId: wire.requestId === undefined ? null : field(wire, 'requestId', 'string', wireAt),
    intent: nullable(o, 'intent', (x) => decodeIntent(x, `${at}.intent`)),
    unsignedTransaction: nullable(o, 'unsignedTransaction', str('unsignedTransaction')),
    digest: nullable(isRecord(o.request) && o.digest === undefined ? wire : o, 'digest', str('digest')),
    decision: nullable(o, 'decision', (x) => decodeDecision(x, `${at}.decision`)),
    approvals: array(o.approvals ?? [], `${at}.approvals`).map((a, i) => {
      const where = `${at}.approvals[${i}]`;
      return {
        approverId: field(a, 'approverId', 'string', where),
        approvedAtMs: integerField(record(a, where), 'approvedAtMs', where),
        expiresAtMs: integerField(record(a, where), 'expiresAtMs', where),
      };
    }),
    signature: nullable(o, 'signature', str('signature')),
    signedTransaction: nullable(o, 'signedTransaction', str('signedTransaction')),
    txHash: nullable(o, 'txHash', str('txHash')),
    signers: array(o.signers ?? [], `${at}.signers`).map((x, i) => {
      if (typeof x !== 'string')
        throw new CofferResponseError(
          `${at}.signers[${i}]`,
          `response field ${at}.signers[${i}] is not a string`,
        );
      return x;
    }),
    history: array(o.history ?? [], `${at}.history`).map((h, i) => ({
      status: field(h, 'status', 'string', `${at}.history[${i}]`),
      at: field(h, 'at', 'string', `${at}.history[${i}]`),
    })),
    error: nullable(o, 'error', str('error')),
    createdAt: field(o, 'createdAt', 'string', at),
    updatedAt: field(o, 'updatedAt', 'string', at),
  };
}
