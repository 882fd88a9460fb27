// Destination screening for the OTC service, the same hook shape as the signer nodes' policy
// (signer-node/src/policy/screening.ts), fail closed: a local denylist file (one address per line, '#'
// starts a comment, re-read when it changes; a missing or unreadable file screens nothing through) and an
// optional HTTP hook POST {chain, address} → {allow: boolean, reason?} under a strict timeout (a timeout,
// an HTTP error or an answer without a boolean `allow` → unavailable, never allowed).
import { readFileSync, statSync } from 'node:fs';
import { invalid, OtcError } from '../errors.ts';

export type ScreeningVerdict =
  | { outcome: 'clear'; reason: string }
  | { outcome: 'denied'; reason: string }
  | { outcome: 'unavailable'; reason: string };

export type ScreeningTarget = { chain: string; address: string };

const MAX_DENYLIST_BYTES = 16 * 1024 * 1024;
const MAX_HOOK_ANSWER_BYTES = 64 * 1024;
const EVM_HEX = /^0x[0-9a-f]{40}$/i;

/** EVM hex addresses compare case-insensitively (checksum case is not part of the address). */
function normalise(address: string): string {
  return EVM_HEX.test(address) ? address.toLowerCase() : address;
}

export class Denylist {
  private stamp = '';
  private entries = new Set<string>();

  constructor(readonly file: string) {}

  private load(): string | null {
    try {
      const st = statSync(this.file);
      if (!st.isFile()) return `${this.file} is not a file`;
      if (st.size > MAX_DENYLIST_BYTES) return `${this.file} is larger than 16 MiB`;
      const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
      if (stamp === this.stamp) return null;
      const entries = new Set<string>();
      for (const raw of readFileSync(this.file, 'utf8').split('\n')) {
        const line = raw.replace(/#.*$/, '').trim();
        if (line.length > 0) entries.add(normalise(line));
      }
      this.entries = entries;
      this.stamp = stamp;
      return null;
    } catch (e) {
      this.stamp = '';
      this.entries = new Set();
      return `cannot read the denylist: ${(e as NodeJS.ErrnoException).code ?? 'error'}`;
    }
  }

  check(target: ScreeningTarget): ScreeningVerdict {
    const failure = this.load();
    if (failure !== null) return { outcome: 'unavailable', reason: failure };
    return this.entries.has(normalise(target.address))
      ? { outcome: 'denied', reason: `${target.address} is on the desk's denylist` }
      : { outcome: 'clear', reason: 'not on the denylist' };
  }
}

function hookVerdict(body: unknown, target: ScreeningTarget): ScreeningVerdict {
  const allow = (body as { allow?: unknown } | null)?.allow;
  if (typeof allow !== 'boolean')
    return { outcome: 'unavailable', reason: 'screening hook answer has no boolean allow' };
  if (allow) return { outcome: 'clear', reason: 'screening hook allowed it' };
  const reason = (body as { reason?: unknown }).reason;
  return {
    outcome: 'denied',
    reason:
      typeof reason === 'string' && reason.length > 0
        ? `screening hook: ${reason.slice(0, 200)}`
        : `${target.address} denied by the screening hook`,
  };
}

/** Calls the screening hook; never throws. */
export async function callScreeningHook(
  hook: { url: string; timeoutMs: number },
  target: ScreeningTarget,
): Promise<ScreeningVerdict> {
  const signal = AbortSignal.timeout(hook.timeoutMs);
  try {
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chain: target.chain, address: target.address }),
      signal,
    });
    const text = await res.text();
    if (res.status !== 200)
      return { outcome: 'unavailable', reason: `screening hook answered HTTP ${res.status}` };
    if (text.length > MAX_HOOK_ANSWER_BYTES)
      return { outcome: 'unavailable', reason: 'screening hook answer too large' };
    try {
      return hookVerdict(JSON.parse(text), target);
    } catch {
      return { outcome: 'unavailable', reason: 'screening hook answer is not JSON' };
    }
  } catch (e) {
    if (signal.aborted)
      return { outcome: 'unavailable', reason: `screening hook did not answer within ${hook.timeoutMs} ms` };
    return { outcome: 'unavailable', reason: `screening hook unreachable: ${(e as Error).name}` };
  }
}

export type ScreeningConfig = { denylistFile?: string; screeningHook?: { url: string; timeoutMs: number } };

export interface Screening {
  /** The verdict; never throws. */
  check(target: ScreeningTarget): Promise<ScreeningVerdict>;
  /** Resolves when clear; throws `screening-denied` or `screening-unavailable` (fail closed). */
  screen(target: ScreeningTarget): Promise<void>;
}

/** Screening as configured: the denylist first (local, cheap), then the hook. */
export function createScreening(config: ScreeningConfig): Screening {
  const hook = config.screeningHook;
  if (hook !== undefined && (!Number.isSafeInteger(hook.timeoutMs) || hook.timeoutMs <= 0))
    throw invalid('compliance.screeningHook.timeoutMs', 'must be a positive integer');
  const denylist = config.denylistFile === undefined ? undefined : new Denylist(config.denylistFile);
  const check = async (target: ScreeningTarget): Promise<ScreeningVerdict> => {
    if (typeof target.address !== 'string' || target.address.length === 0 || target.address.length > 200)
      throw invalid('destination', 'must be an address of 1 to 200 characters');
    const listed = denylist?.check(target);
    if (listed !== undefined && listed.outcome !== 'clear') return listed;
    if (hook !== undefined) return callScreeningHook(hook, target);
    return listed ?? { outcome: 'clear', reason: 'no screening configured' };
  };
  return {
    check,
    async screen(target) {
      const verdict = await check(target);
      if (verdict.outcome === 'denied') throw new OtcError('screening-denied', verdict.reason, 'destination');
      if (verdict.outcome === 'unavailable')
        throw new OtcError(
          'screening-unavailable',
          `screening unavailable, refused: ${verdict.reason}`,
          'destination',
        );
    },
  };
}
