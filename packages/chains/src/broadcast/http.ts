// Bounded HTTP for broadcasters: every request has a timeout and a fixed number of retries (network
// errors, timeouts and 5xx only; a 4xx or an application error is an answer, not a fault).
import { ChainError } from '../errors.ts';

export interface EndpointConfig {
  /** Base URL of the endpoint, from configuration (e.g. http://127.0.0.1:8545). */
  url: string;
  /** Per-request timeout (default 10 000 ms). */
  timeoutMs?: number;
  /** Extra attempts after the first on transient failures (default 2; at most 10). */
  retries?: number;
  /** Pause between attempts (default 250 ms). */
  retryDelayMs?: number;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function checkEndpoint(config: EndpointConfig): Required<EndpointConfig> {
  let parsed: URL;
  try {
    parsed = new URL(config.url);
  } catch {
    throw new ChainError('invalid-argument', 'endpoint.url', 'is not a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ChainError('invalid-argument', 'endpoint.url', 'must be http or https');
  }
  const retries = config.retries ?? 2;
  if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
    throw new ChainError('invalid-argument', 'endpoint.retries', 'must be an integer in [0, 10]');
  }
  const timeoutMs = config.timeoutMs ?? 10_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 300_000) {
    throw new ChainError('invalid-argument', 'endpoint.timeoutMs', 'must be an integer in (0, 300000]');
  }
  return {
    url: config.url.replace(/\/+$/, ''),
    timeoutMs,
    retries,
    retryDelayMs: config.retryDelayMs ?? 250,
  };
}

/** One request with timeout and bounded retries; returns status and body text. */
export async function httpRequest(
  config: Required<EndpointConfig>,
  path: string,
  init: { method: 'GET' | 'POST'; body?: string; contentType?: string },
): Promise<HttpAnswer> {
  let lastError: unknown;
  for (let attempt = 0; attempt <= config.retries; attempt++) {
    if (attempt > 0) await sleep(config.retryDelayMs);
    try {
      const response = await fetch(`${config.url}${path}`, {
        method: init.method,
        ...(init.body === undefined
          ? {}
          : { body: init.body, headers: { 'content-type': init.contentType ?? 'application/json' } }),
        signal: AbortSignal.timeout(config.timeoutMs),
      });
      const body = await response.text();
      if (body.length > MAX_BODY_BYTES) throw new ChainError('rpc-error', path, 'response too large');
      if (response.status >= 500) {
        lastError = new ChainError('rpc-error', path, `HTTP ${response.status}: ${body.slice(0, 200)}`);
        continue;
      }
      return { status: response.status, body };
    } catch (error) {
      if (error instanceof ChainError) throw error;
      lastError = error;
    }
  }
  if (lastError instanceof ChainError) throw lastError;
  const timedOut =
    lastError instanceof Error && (lastError.name === 'TimeoutError' || lastError.name === 'AbortError');
  throw new ChainError(
    timedOut ? 'timeout' : 'rpc-error',
    path,
    `${config.retries + 1} attempts failed: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
    { cause: lastError },
  );
}

/** Parses a JSON body, naming the endpoint path on failure. */
export function parseJson(body: string, field: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new ChainError('rpc-error', field, 'response is not JSON');
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
