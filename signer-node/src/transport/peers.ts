// Peer transport: sends signed (and, point to point, encrypted) envelopes to pinned peers over HTTP
// POST /v1/peer/envelope with bounded retries and a bounded number of messages in flight per peer,
// and checks every incoming envelope: known sender, valid signature by its pinned key, addressed to
// this node, not seen before, decryptable. A failing envelope is dropped and counted by reason; it
// never aborts a session (a session that misses a message times out and names who it waited for).
import * as http from 'node:http';
import * as https from 'node:https';
import { hexToBytes } from '@noble/hashes/utils.js';
import type { PeerConfig } from '../config/config.ts';
import type { EncryptionKey } from '../config/keys.ts';
import type { Metrics } from '../util/metrics.ts';
import {
  decodeEnvelope,
  decryptPayload,
  type Envelope,
  EnvelopeError,
  type EnvelopeKind,
  encryptPayload,
  newEnvelopeId,
  payloadKey,
  sealEnvelope,
  verifyEnvelopeSignature,
} from './envelope.ts';

export const DROP_REASONS = [
  'malformed',
  'unpinned-sender',
  'bad-signature',
  'misrouted',
  'replay',
  'undecryptable',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export type TransportOptions = {
  nodeId: string;
  peers: readonly PeerConfig[];
  encryption: EncryptionKey;
  sign: (message: Uint8Array) => Promise<Uint8Array>;
  metrics: Metrics;
  requestTimeoutMs: number;
  /** Attempts per envelope (first try included). */
  attempts?: number;
  /** Envelopes queued or in flight per peer before new ones are refused. */
  maxInFlightPerPeer?: number;
};

type Peer = PeerConfig & { identity: Uint8Array; encryptionPublic: Uint8Array; inFlight: number };

const SEEN_LIMIT = 100_000;

export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    readonly peer: string,
    message: string,
  ) {
    super(message);
  }
}

export class PeerTransport {
  private readonly peers = new Map<string, Peer>();
  private readonly seen = new Set<string>();
  private readonly keys = new Map<string, Uint8Array>();
  /** When each peer last proved it is up: it took an envelope from us, or sent us one that verified. */
  private readonly heardAt = new Map<string, number>();
  private readonly attempts: number;
  private readonly maxInFlight: number;

  constructor(private readonly opts: TransportOptions) {
    for (const p of opts.peers)
      this.peers.set(p.id, {
        ...p,
        identity: hexToBytes(p.identityKey),
        encryptionPublic: hexToBytes(p.encryptionKey),
        inFlight: 0,
      });
    this.attempts = opts.attempts ?? 6;
    this.maxInFlight = opts.maxInFlightPerPeer ?? 1024;
    opts.metrics.counter('coffer_peer_envelopes_dropped_total', 'Incoming peer envelopes dropped, by reason');
    opts.metrics.counter('coffer_peer_envelopes_received_total', 'Incoming peer envelopes accepted');
    opts.metrics.counter('coffer_peer_envelopes_sent_total', 'Outgoing peer envelopes delivered');
    opts.metrics.counter('coffer_peer_send_failures_total', 'Outgoing peer envelopes given up after retries');
    opts.metrics.counter('coffer_peer_send_retries_total', 'Outgoing peer envelope retries');
  }

  peerIds(): string[] {
    return [...this.peers.keys()];
  }

  /** Asks the peer's GET /healthz; true when it answers 2xx within `timeoutMs`. Records the answer. */
  async probe(id: string, timeoutMs: number): Promise<boolean> {
    const peer = this.peers.get(id);
    if (!peer) return false;
    const up = await request(`${peer.url}/healthz`, { method: 'GET', timeoutMs }).then(
      (r) => r.ok,
      () => false,
    );
    this.noteUp(id, up);
    return up;
  }

  /** The peers among `ids` that proved they are up within the last `withinMs`. */
  recentlyHeard(ids: readonly string[], withinMs: number): Set<string> {
    const since = Date.now() - withinMs;
    return new Set(ids.filter((id) => (this.heardAt.get(id) ?? -Infinity) >= since));
  }

  /** Records that `id` answered (a health probe, an envelope), or that it did not. */
  noteUp(id: string, up: boolean): void {
    if (!this.peers.has(id)) return;
    if (up) this.heardAt.set(id, Date.now());
    else this.heardAt.delete(id);
  }

  private key(from: string, to: string, peer: Peer): Uint8Array {
    const k = `${from}>${to}`;
    let key = this.keys.get(k);
    if (!key) {
      key = payloadKey(this.opts.encryption.sharedSecret(peer.encryptionPublic), from, to);
      this.keys.set(k, key);
    }
    return key;
  }

  /** Signs, encrypts when `encrypt`, and delivers with retries; rejects with TransportError when it gives up. */
  async send(
    to: string,
    m: { kind: EnvelopeKind; session: string; round: number; payload: Uint8Array; encrypt: boolean },
  ): Promise<void> {
    const peer = this.peers.get(to);
    if (!peer) throw new TransportError(to, `no pinned peer "${to}"`);
    if (peer.inFlight >= this.maxInFlight) {
      this.opts.metrics.inc('coffer_peer_send_failures_total', { peer: to });
      throw new TransportError(to, `queue to ${to} is full`);
    }
    const head = {
      kind: m.kind,
      id: newEnvelopeId(),
      session: m.session,
      round: m.round,
      from: this.opts.nodeId,
      to,
      encrypted: m.encrypt,
    };
    const payload = m.encrypt
      ? encryptPayload(this.key(this.opts.nodeId, to, peer), head, m.payload)
      : m.payload;
    const bytes = await sealEnvelope({ ...head, payload }, this.opts.sign);
    peer.inFlight++;
    try {
      await this.post(peer, bytes).catch((e: unknown) => {
        this.noteUp(peer.id, false);
        throw e;
      });
      this.noteUp(peer.id, true);
      this.opts.metrics.inc('coffer_peer_envelopes_sent_total');
    } finally {
      peer.inFlight--;
    }
  }

  private async post(peer: Peer, bytes: Uint8Array): Promise<void> {
    let lastError = '';
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      if (attempt > 0) {
        this.opts.metrics.inc('coffer_peer_send_retries_total', { peer: peer.id });
        const backoffMs = Math.min(2_000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);
        await new Promise((r) => setTimeout(r, backoffMs));
      }
      try {
        const res = await request(`${peer.url}/v1/peer/envelope`, {
          method: 'POST',
          body: bytes,
          timeoutMs: this.opts.requestTimeoutMs,
        });
        const answer = res.body;
        if (res.ok) return;
        // A retry after a lost or late answer (the peer can be busy computing a protocol round for
        // longer than the request timeout): the peer already holds this exact envelope and drops the
        // copy as a replay. The envelope was delivered once, which is what the sender needed.
        if (attempt > 0 && res.status === 400 && isReplayAnswer(answer)) return;
        lastError = `HTTP ${res.status}${dropReason(answer)}`;
        // The peer refused this envelope for good (it is malformed or not for it): do not retry.
        if (res.status >= 400 && res.status < 500 && res.status !== 429) break;
      } catch (e) {
        lastError = (e as Error).message;
      }
    }
    this.opts.metrics.inc('coffer_peer_send_failures_total', { peer: peer.id });
    throw new TransportError(peer.id, `cannot deliver to ${peer.id}: ${lastError}`);
  }

  /** Checks an incoming envelope; returns it with its payload decrypted, or the reason it was dropped. */
  accept(
    bytes: Uint8Array,
  ): { ok: true; envelope: Envelope } | { ok: false; reason: DropReason; detail: string } {
    const drop = (reason: DropReason, detail: string) => {
      this.opts.metrics.inc('coffer_peer_envelopes_dropped_total', { reason });
      return { ok: false as const, reason, detail };
    };
    let decoded: ReturnType<typeof decodeEnvelope>;
    try {
      decoded = decodeEnvelope(bytes);
    } catch (e) {
      return drop('malformed', e instanceof EnvelopeError ? e.message : 'undecodable');
    }
    const { envelope, signed, signature } = decoded;
    const peer = this.peers.get(envelope.from);
    if (!peer) return drop('unpinned-sender', `sender "${envelope.from}" is not a pinned peer`);
    if (!verifyEnvelopeSignature(signed, signature, peer.identity))
      return drop('bad-signature', `signature does not verify under ${envelope.from}'s pinned key`);
    if (envelope.to !== this.opts.nodeId) return drop('misrouted', `addressed to "${envelope.to}"`);
    if (this.seen.has(envelope.id)) return drop('replay', `envelope ${envelope.id} seen before`);
    let payload = envelope.payload;
    if (envelope.encrypted) {
      try {
        payload = decryptPayload(this.key(envelope.from, this.opts.nodeId, peer), envelope);
      } catch (e) {
        return drop('undecryptable', (e as Error).message);
      }
    }
    this.seen.add(envelope.id);
    this.noteUp(envelope.from, true);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as string);
    this.opts.metrics.inc('coffer_peer_envelopes_received_total');
    return { ok: true, envelope: { ...envelope, payload } };
  }
}

// One keep-alive connection pool per protocol for every peer (node:http: a fraction of fetch's CPU per
// request, and a node sends several envelopes per signing to each peer).
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

/** A small HTTP request with a total deadline; rejects with a short reason ("timed out", "ECONNREFUSED …"). */
function request(
  url: string,
  o: { method: 'GET' | 'POST'; body?: Uint8Array; timeoutMs: number },
): Promise<{ ok: boolean; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const client = u.protocol === 'https:' ? https : http;
    const req = client.request(
      u,
      {
        method: o.method,
        agent: agents[u.protocol === 'https:' ? 'https:' : 'http:'],
        headers:
          o.body !== undefined
            ? { 'content-type': 'application/octet-stream', 'content-length': o.body.length }
            : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          // Answers are small JSON; a peer cannot make this node buffer more.
          if (size <= 64 * 1024) chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          resolve({
            ok: status >= 200 && status < 300,
            status,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error('timed out')), o.timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(
        new Error(e.message === 'timed out' ? 'timed out' : ((e as NodeJS.ErrnoException).code ?? e.message)),
      );
    });
    req.end(
      o.body === undefined ? undefined : Buffer.from(o.body.buffer, o.body.byteOffset, o.body.byteLength),
    );
  });
}

/** The reason a peer gave for dropping an envelope (" (replay)"), for the error; empty when it gave none. */
function dropReason(body: string): string {
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    return parsed.code === 'envelope-dropped' &&
      typeof parsed.message === 'string' &&
      /^[a-z-]{1,40}$/.test(parsed.message)
      ? ` (${parsed.message})`
      : '';
  } catch {
    return '';
  }
}

function isReplayAnswer(body: string): boolean {
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    return parsed.code === 'envelope-dropped' && parsed.message === 'replay';
  } catch {
    return false;
  }
}
