// Shared helpers for the process-level suites: a cluster of real signer-node processes in a temp
// directory, a tiny JSON API client, and independent signature verifiers (noble).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import {
  type Backend,
  type ClusterSpec,
  initCluster,
  NodeProcess,
  softHsmAvailable,
} from '../../src/dev/cluster.ts';

export type Cluster = { spec: ClusterSpec; nodes: NodeProcess[]; dir: string; stopAll: () => Promise<void> };

export async function startCluster(opts: {
  roundMs: number;
  stall?: Record<string, string>;
  /** `chains` section of every node's configuration. */
  chains?: Record<string, unknown>;
}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-cluster-'));
  const hsm = softHsmAvailable();
  // At least one SoftHSM-backed node when SoftHSM2 is installed, and always one software node.
  const backends: Backend[] = hsm ? ['pkcs11', 'pkcs11', 'software'] : ['software', 'software', 'software'];
  const spec = await initCluster({
    dir,
    backends,
    roundMs: opts.roundMs,
    logLevel: 'warn',
    ...(opts.chains ? { chains: opts.chains } : {}),
  });
  const nodes = spec.nodes.map((n) => new NodeProcess(n, spec.env));
  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.kill9()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (e) {
    await stopAll();
    throw e;
  }
  return { spec, nodes, dir, stopAll };
}

export async function api(
  node: NodeProcess,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: string; contentType?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const hasBody = opts.body !== undefined || opts.raw !== undefined;
  if (hasBody) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers,
    ...(hasBody ? { body: opts.raw ?? JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

/** Verifies with noble's standard verifiers, independent of Coffer's code. */
export function verifySignature(
  scheme: string,
  publicKey: string,
  message: string,
  signature: string,
): boolean {
  const pub = hexToBytes(publicKey);
  const msg = hexToBytes(message);
  const sig = hexToBytes(signature);
  if (scheme === 'schnorr-secp256k1-tr') return schnorr.verify(sig, msg, pub);
  if (scheme === 'eddsa-ed25519') return ed25519.verify(sig, msg, pub);
  if (sig.length !== 65) return false;
  const ok = secp256k1.verify(sig.subarray(0, 64), msg, pub, { prehash: false, lowS: true });
  const recovered = secp256k1.Signature.fromBytes(sig.subarray(0, 64), 'compact')
    .addRecoveryBit(sig[64]!)
    .recoverPublicKey(msg)
    .toBytes(true);
  return ok && Buffer.from(recovered).equals(Buffer.from(pub));
}

export async function metric(node: NodeProcess, line: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const m = text.split('\n').find((l) => l.startsWith(`${line} `));
  return m ? Number(m.slice(line.length + 1)) : 0;
}
