// A small HTTP client for the OTC desk's /v1 API (packages/otc), used by `coffer otc …`. It speaks HTTP
// only (no import of the service): a bearer token, JSON bodies, an Idempotency-Key on every POST, a
// timeout on every call, and the API's errors {code, message, field?} kept as they came.
import { randomBytes } from 'node:crypto';

/** The API answered with an error body: its code, message, field and HTTP status. */
export class OtcApiError extends Error {
  override readonly name = 'OtcApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The service could not be reached or did not answer in time. */
export class OtcUnreachable extends Error {
  override readonly name = 'OtcUnreachable';
  constructor(
    readonly code: 'unreachable' | 'timeout',
    message: string,
  ) {
    super(message);
  }
}

export type OtcClientOptions = { url: string; token: string; timeoutMs?: number };
export type Query = Record<string, string | undefined>;
type Json = Record<string, unknown>;

const DEFAULT_TIMEOUT_MS = 30_000;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

export class OtcClient {
  readonly url: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(o: OtcClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(o.url);
    } catch {
      throw new TypeError('url must be an http(s) URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new TypeError('url must be an http(s) URL');
    if (typeof o.token !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(o.token))
      throw new TypeError('token must be one line of printable characters');
    this.url = o.url.replace(/\/+$/, '');
    this.#token = o.token;
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** The token is never printed. */
  toJSON() {
    return { url: this.url, token: '<redacted>' };
  }

  async get(path: string, query: Query = {}): Promise<Json> {
    return asObject(await this.#send('GET', withQuery(path, query)), path);
  }

  /** A GET whose answer is not JSON (CSV): the text and its headers. */
  async getText(path: string, query: Query = {}): Promise<{ text: string; contentType: string }> {
    const res = await this.#fetch('GET', withQuery(path, query));
    const text = await res.text();
    if (!res.ok) throw apiError(res.status, text);
    return { text, contentType: res.headers.get('content-type') ?? '' };
  }

  /** POST with an Idempotency-Key: `idempotencyKey` to repeat a call safely, a random one otherwise. */
  async post(path: string, body: Json, idempotencyKey?: string): Promise<Json> {
    const key = idempotencyKey ?? randomBytes(16).toString('hex');
    if (!IDEMPOTENCY_KEY.test(key))
      throw new TypeError('idempotency key must be 1–128 printable characters without spaces');
    return asObject(await this.#send('POST', path, body, key), path);
  }

  async #send(method: string, path: string, body?: Json, key?: string): Promise<unknown> {
    const res = await this.#fetch(method, path, body, key);
    const text = await res.text();
    if (!res.ok) throw apiError(res.status, text);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new OtcApiError('bad-response', `${path}: the answer is not JSON`, res.status);
    }
  }

  async #fetch(method: string, path: string, body?: Json, key?: string): Promise<Response> {
    try {
      return await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(key !== undefined ? { 'idempotency-key': key } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: 'error',
      });
    } catch (e) {
      const timeout = (e as Error)?.name === 'TimeoutError';
      throw new OtcUnreachable(
        timeout ? 'timeout' : 'unreachable',
        timeout
          ? `${this.url} did not answer within ${this.#timeoutMs} ms`
          : `cannot reach ${this.url} (${(e as { cause?: { code?: string } })?.cause?.code ?? 'error'})`,
      );
    }
  }
}

function withQuery(path: string, query: Query): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
  return q.size > 0 ? `${path}?${q}` : path;
}

function asObject(value: unknown, path: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new OtcApiError('bad-response', `${path}: the answer is not a JSON object`, 200);
  return value as Json;
}

/** The API's {code, message, field?}; anything else is named by its HTTP status. */
function apiError(status: number, text: string): OtcApiError {
  let body: Json | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Json;
  } catch {
    body = undefined;
  }
  const code = typeof body?.code === 'string' ? body.code : `http-${status}`;
  const message = typeof body?.message === 'string' ? body.message : `HTTP ${status}`;
  const field = typeof body?.field === 'string' ? body.field : undefined;
  return new OtcApiError(code, message, status, field);
}
