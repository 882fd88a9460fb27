// Layout of the DKLs23 part of a KeyShare. secretMaterial = x_i (32 bytes, the KeyShare convention)
// followed by the pairwise setup with every other party: the zero-sharing seed and both directions
// of OT-extension seeds (this party as extension sender "Alice" with Δ and k_i^{Δ_i}, and as
// extension receiver "Bob" with (k_i^0, k_i^1)). publicMaterial = version ‖ setup id, the id of the
// DKG or refresh run that produced this setup: shares of different runs never sign together.
// The OT-extension setup is SoftSpokenOT's (k = 2): per block, Alice keeps Δ_b and three leaves,
// Bob all four (ot/punctured.ts).
import { ByteReader, ByteWriter, DecodeError } from '../codec/bytes.ts';
import type { OtExtReceiverSetup, OtExtSenderSetup } from './ot/extension.ts';
import { BLOCKS } from './ot/punctured.ts';

const SECRET_VERSION = 1;
const PUBLIC_VERSION = 1;
const FLAG_UNUSABLE = 1;

export type PeerSetup = {
  peer: number;
  /** False once an OT, multiplication or Γ check with this peer failed: the setup is discarded. */
  usable: boolean;
  zeroSeed: Uint8Array;
  /** This party as OT-extension sender (multiplication "Alice") toward the peer. */
  sender: OtExtSenderSetup;
  /** This party as OT-extension receiver (multiplication "Bob") toward the peer. */
  receiver: OtExtReceiverSetup;
};

export type EcdsaSetup = { peers: Map<number, PeerSetup> };

export function encodeSetup(peers: readonly PeerSetup[]): Uint8Array {
  const w = new ByteWriter().u8(SECRET_VERSION).u8(peers.length);
  for (const p of peers) {
    w.u8(p.peer).u8(p.usable ? 0 : FLAG_UNUSABLE);
    if (!p.usable) continue;
    w.raw(p.zeroSeed).raw(p.sender.delta);
    // Alice's three known leaves per block (the punctured one, s_{b,Δ_b}, is absent) …
    for (const row of p.sender.leaves) for (const leaf of row) if (leaf.length > 0) w.raw(leaf);
    // … and Bob's four leaves per block.
    for (const row of p.receiver.leaves) for (const leaf of row) w.raw(leaf);
  }
  return w.finish();
}

/** Strict decoding of the setup for party `index` of `parties`; every other party appears once. */
export function decodeSetup(bytes: Uint8Array, index: number, parties: number): EcdsaSetup {
  // One private copy of the input; seeds and leaves are views into it (hundreds of 32-byte fields
  // per peer: copying each one separately dominated loading a share).
  const r = new ByteReader(Uint8Array.from(bytes));
  const version = r.u8('setup.version');
  if (version !== SECRET_VERSION) throw new DecodeError(`setup.version: unsupported version ${version}`);
  const count = r.u8('setup.count');
  if (count !== parties - 1)
    throw new DecodeError(`setup.count: expected ${parties - 1} peers, got ${count}`);
  const peers = new Map<number, PeerSetup>();
  let previous = 0;
  for (let k = 0; k < count; k++) {
    const peer = r.u8(`setup[${k}].peer`);
    if (peer <= previous || peer > parties || peer === index)
      throw new DecodeError(`setup[${k}].peer: ${peer} is out of order, out of range or this party`);
    previous = peer;
    const flags = r.u8(`setup[${k}].flags`);
    if (flags & ~FLAG_UNUSABLE) throw new DecodeError(`setup[${k}].flags: unknown bits`);
    if (flags & FLAG_UNUSABLE) {
      const empty = new Uint8Array(32);
      peers.set(peer, {
        peer,
        usable: false,
        zeroSeed: empty,
        sender: { delta: empty, leaves: [] },
        receiver: { leaves: [] },
      });
      continue;
    }
    const zeroSeed = r.view(32, `setup[${k}].zeroSeed`);
    const delta = r.view(32, `setup[${k}].delta`);
    const senderLeaves = Array.from({ length: BLOCKS }, (_, b) => {
      const punctured = (delta[(2 * b) >> 3]! >>> ((2 * b) & 7)) & 3;
      return Array.from({ length: 4 }, (_, x) =>
        x === punctured ? new Uint8Array(0) : r.view(32, `setup[${k}].senderLeaves[${b}][${x}]`),
      );
    });
    const receiverLeaves = Array.from({ length: BLOCKS }, (_, b) =>
      Array.from({ length: 4 }, (_, x) => r.view(32, `setup[${k}].receiverLeaves[${b}][${x}]`)),
    );
    peers.set(peer, {
      peer,
      usable: true,
      zeroSeed,
      sender: { delta, leaves: senderLeaves },
      receiver: { leaves: receiverLeaves },
    });
  }
  r.end('setup');
  return { peers };
}

export function encodePublicMaterial(setupId: Uint8Array): Uint8Array {
  return new ByteWriter().u8(PUBLIC_VERSION).raw(setupId).finish();
}

export function decodePublicMaterial(bytes: Uint8Array): { setupId: Uint8Array } {
  const r = new ByteReader(bytes);
  const version = r.u8('publicMaterial.version');
  if (version !== PUBLIC_VERSION)
    throw new DecodeError(`publicMaterial.version: unsupported version ${version}`);
  const setupId = r.raw(32, 'publicMaterial.setupId');
  r.end('publicMaterial');
  return { setupId };
}

/**
 * Load-time check called by keyshare-validate.ts for ecdsa-secp256k1 shares: a share that carries
 * a DKLs23 setup must carry a well-formed one. (A bare 32-byte secret is a share without setup.)
 */
export function validateEcdsaMaterial(
  view: { index: number; parties: number; publicMaterial: Uint8Array },
  secret: Uint8Array,
): void {
  if (secret.length === 32 && view.publicMaterial.length === 0) return;
  decodePublicMaterial(view.publicMaterial);
  decodedSetups.set(secret, decodeSetup(secret.subarray(32), view.index, view.parties));
}

// The setup decoded by the load-time check, handed to the signing code's first use of the same
// share (share.ts) instead of being decoded a second time. Keyed by the share's own secret buffer,
// so it lives exactly as long as the share; taken once.
const decodedSetups = new WeakMap<Uint8Array, EcdsaSetup>();

/** The setup validateEcdsaMaterial decoded from `secret`, if any (removed from the table). */
export function takeDecodedSetup(secret: Uint8Array): EcdsaSetup | undefined {
  const setup = decodedSetups.get(secret);
  decodedSetups.delete(secret);
  return setup;
}
