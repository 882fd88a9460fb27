// Destination screening (DESIGN §5), fail-closed: a local denylist file (one address per line, '#'
// starts a comment, re-read whenever its size or modification time changes; missing or unreadable →
// every transfer is denied) and the policy's HTTP hook with its strict timeout (any error, non-JSON
// answer or timeout → not clear).
//
// Hook protocol: POST {chain, network, asset, address, amount} as JSON; the answer must be 200 with
// {"status":"clear"} or {"status":"hit","detail":"…"}.
import { readFileSync, statSync } from 'node:fs';
import type { TransferIntent } from '@coffer/chains/intent';
import type { ScreeningResult } from '@coffer/policy/evaluate';

export type DenylistCheck =
  | { status: 'clear' }
  | { status: 'hit'; detail: string }
  | { status: 'unavailable'; detail: string };

const MAX_DENYLIST_BYTES = 16 * 1024 * 1024;

export class Denylist {
  private stamp = '';
  private entries = new Set<string>();

  constructor(readonly file: string) {}

  private load(): { ok: true } | { ok: false; detail: string } {
    try {
      const st = statSync(this.file);
      if (!st.isFile()) return { ok: false, detail: `${this.file} is not a file` };
      if (st.size > MAX_DENYLIST_BYTES) return { ok: false, detail: `${this.file} is larger than 16 MiB` };
      const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
      if (stamp === this.stamp) return { ok: true };
      const entries = new Set<string>();
      for (const raw of readFileSync(this.file, 'utf8').split('\n')) {
        const line = raw.replace(/#.*$/, '').trim();
        if (line.length > 0) entries.add(line);
      }
      this.entries = entries;
      this.stamp = stamp;
      return { ok: true };
    } catch (e) {
      this.stamp = '';
      this.entries = new Set();
      return { ok: false, detail: `cannot read denylist: ${(e as NodeJS.ErrnoException).code ?? 'error'}` };
    }
  }

  check(chain: string, address: string): DenylistCheck {
    const loaded = this.load();
    if (!loaded.ok) return { status: 'unavailable', detail: loaded.detail };
    const hit =
      chain === 'evm'
        ? [...this.entries].some((e) => e.toLowerCase() === address.toLowerCase())
        : this.entries.has(address);
    return hit
      ? { status: 'hit', detail: `${address} is on this node's denylist file` }
      : { status: 'clear' };
  }
}

/** Calls the policy's screening hook; never throws. */
export async function callScreeningHook(
  hook: { url: string; timeoutMs: number },
  intent: TransferIntent,
): Promise<ScreeningResult> {
  const signal = AbortSignal.timeout(hook.timeoutMs);
  try {
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        chain: intent.chain,
        network: intent.network,
        asset: intent.asset.contract ?? 'native',
        address: intent.to,
        amount: intent.amount.toString(),
      }),
      signal,
    });
    const text = await res.text();
    if (res.status !== 200) return { status: 'error', detail: `hook answered HTTP ${res.status}` };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { status: 'error', detail: 'hook answer is not JSON' };
    }
    const status = (body as { status?: unknown } | null)?.status;
    if (status === 'clear') return { status: 'clear' };
    if (status === 'hit') {
      const detail = (body as { detail?: unknown }).detail;
      return {
        status: 'hit',
        detail: typeof detail === 'string' ? detail.slice(0, 200) : `${intent.to} flagged by screening`,
      };
    }
    return { status: 'error', detail: 'hook answer has no status clear or hit' };
  } catch (e) {
    if (signal.aborted) return { status: 'timeout' };
    return { status: 'error', detail: `hook unreachable: ${(e as Error).name}` };
  }
}
