// Coffer's main job until the signer node exists: a local demonstration of the threshold library.
// For each scheme: 2-of-3 distributed key generation, signing by a non-contiguous pair of parties,
// and verification of the signature with the chain's standard verifier (not Coffer's code).
// Usage: pnpm demo [--json]

import { SCHEMES, type SchemeId, UsageError } from '@coffer/tss';
import { derivePublicKey, simulateKeygen, simulateSign } from '@coffer/tss/simulator';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

type Row = {
  scheme: SchemeId;
  status: 'ok' | 'unavailable' | 'failed';
  publicKey?: string;
  signers?: number[];
  message?: string;
  signature?: string;
  verified?: boolean;
  derived?: { path: string; publicKey: string; signature: string; verified: boolean };
  keygenMs?: number;
  signMs?: number;
  error?: string;
};

function verifyIndependently(
  scheme: SchemeId,
  sig: Uint8Array,
  message: Uint8Array,
  pub: Uint8Array,
): boolean {
  if (scheme === 'eddsa-ed25519') return ed25519.verify(sig, message, pub);
  if (scheme === 'schnorr-secp256k1-tr') return schnorr.verify(sig, message, pub);
  return secp256k1.verify(sig.subarray(0, 64), message, pub, { prehash: false });
}

async function demo(scheme: SchemeId): Promise<Row> {
  const text = `Coffer demo: move 0.5 units from the warm wallet (${scheme})`;
  // ECDSA signs a 32-byte digest; the FROST schemes sign the message itself.
  const message =
    scheme === 'ecdsa-secp256k1' ? sha256(new TextEncoder().encode(text)) : new TextEncoder().encode(text);
  try {
    let t = performance.now();
    const shares = await simulateKeygen({ scheme, threshold: 2, parties: 3 });
    const keygenMs = performance.now() - t;
    const signers = [shares[0]!, shares[2]!];
    t = performance.now();
    const signature = await simulateSign({ shares: signers, message });
    const signMs = performance.now() - t;
    const publicKey = shares[0]!.publicKey;
    const row: Row = {
      scheme,
      status: 'ok',
      publicKey: bytesToHex(publicKey),
      signers: signers.map((s) => s.index),
      message: scheme === 'ecdsa-secp256k1' ? `sha256("${text}")` : text,
      signature: bytesToHex(signature),
      verified: verifyIndependently(scheme, signature, message, publicKey),
      keygenMs: Math.round(keygenMs),
      signMs: Math.round(signMs),
    };
    if (scheme !== 'eddsa-ed25519') {
      const path = 'm/0/7';
      const child = derivePublicKey(shares[0]!, path);
      const derivedSig = await simulateSign({ shares: [shares[1]!, shares[2]!], message, path });
      row.derived = {
        path,
        publicKey: bytesToHex(child),
        signature: bytesToHex(derivedSig),
        verified: verifyIndependently(scheme, derivedSig, message, child),
      };
    }
    return row;
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    return { scheme, status: e instanceof UsageError ? 'unavailable' : 'failed', error };
  }
}

const rows: Row[] = [];
for (const scheme of SCHEMES) rows.push(await demo(scheme));

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ rows }, null, 2));
} else {
  console.log('Coffer threshold-signing demo: 2-of-3 key generation, signing by parties 1 and 3\n');
  for (const r of rows) {
    console.log(`■ ${r.scheme}`);
    if (r.status !== 'ok') {
      console.log(`  ${r.status}: ${r.error}\n`);
      continue;
    }
    console.log(`  public key   ${r.publicKey}`);
    console.log(`  message      ${r.message}`);
    console.log(`  signature    ${r.signature}  (parties ${r.signers!.join(' and ')})`);
    console.log(
      `  verified     ${r.verified ? 'yes' : 'NO'} (standard verifier)   keygen ${r.keygenMs} ms, sign ${r.signMs} ms`,
    );
    if (r.derived) {
      console.log(`  derived ${r.derived.path} key ${r.derived.publicKey}`);
      console.log(`  signature under it by parties 2 and 3: verified ${r.derived.verified ? 'yes' : 'NO'}`);
    }
    console.log('');
  }
}
const failed = rows.some(
  (r) => r.status === 'failed' || r.verified === false || r.derived?.verified === false,
);
process.exitCode = failed ? 1 : 0;
