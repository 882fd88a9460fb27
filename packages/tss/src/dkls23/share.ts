// DKLs23 view of a KeyShare: the secret share, the pairwise setup and the public data signing needs,
// plus the registry of discarded pairwise setups (DESIGN §3 item 5). When an OT-extension,
// multiplication or Γ check with a peer fails, that peer is banned for this key and setup: every
// session with it — including concurrent ones in this process — aborts, and the node persists the
// ban by storing the share returned by markPairwiseSetupUnusable.
import { bytesToHex } from '@noble/hashes/utils.js';
import { decodeSecpPoint } from '../codec/groups.ts';
import { deriveSecp256k1 } from '../derivation.ts';
import { UsageError } from '../errors.ts';
import { KeyShare, keyShareSecret } from '../keyshare.ts';
import {
  decodePublicMaterial,
  decodeSetup,
  type EcdsaSetup,
  encodeSetup,
  type PeerSetup,
  takeDecodedSetup,
} from './material.ts';
import { bytesToNumberBE, type Point, Point as PointClass } from './scalar.ts';

export type LoadedShare = {
  share: KeyShare;
  index: number;
  threshold: number;
  parties: number;
  x: bigint;
  setup: EcdsaSetup;
  setupId: Uint8Array;
  keyId: Uint8Array;
  groupPoint: Uint8Array;
  chainCode: Uint8Array;
  /** Public shares x_j·G, decoded on first use (signing never needs them). */
  readonly publicShares: Point[];
};

// Parsed view per KeyShare object: a node signs many times with one share, and parsing the setup
// and decompressing every public share dominated small signings. Lives exactly as long as the share.
const loadedCache = new WeakMap<KeyShare, LoadedShare>();

/** Everything signing needs from a share; refuses shares of other schemes or without setup. */
export function loadShare(share: KeyShare): LoadedShare {
  const cached = loadedCache.get(share);
  if (cached) return cached;
  const loaded = parseShare(share);
  loadedCache.set(share, loaded);
  return loaded;
}

function parseShare(share: KeyShare): LoadedShare {
  let decoded: Point[] | undefined;
  if (!(share instanceof KeyShare)) throw new UsageError('expected a KeyShare');
  if (share.scheme !== 'ecdsa-secp256k1')
    throw new UsageError(`share is for ${share.scheme}, not ecdsa-secp256k1`);
  const secret = keyShareSecret(share);
  if (secret.length <= 32)
    throw new UsageError('share has no DKLs23 pairwise setup: run key generation or refresh');
  return {
    share,
    index: share.index,
    threshold: share.threshold,
    parties: share.parties,
    x: bytesToNumberBE(secret.subarray(0, 32)),
    setup: takeDecodedSetup(secret) ?? decodeSetup(secret.subarray(32), share.index, share.parties),
    setupId: decodePublicMaterial(share.publicMaterial).setupId,
    keyId: share.keyId,
    groupPoint: share.groupPoint,
    chainCode: share.chainCode,
    get publicShares(): Point[] {
      decoded ??= share.publicShares.map((p, i) => decodeSecpPoint(p, `publicShares[${i}]`));
      return decoded;
    },
  };
}

const banned = new Map<string, Set<number>>();

function registryKey(keyId: Uint8Array, setupId: Uint8Array, index: number): string {
  return `${bytesToHex(keyId)}:${bytesToHex(setupId)}:${index}`;
}

/** Records that this party's pairwise setup with `peer` must never be used again. */
export function banPeer(loaded: LoadedShare, peer: number): void {
  const key = registryKey(loaded.keyId, loaded.setupId, loaded.index);
  let set = banned.get(key);
  if (!set) {
    set = new Set();
    banned.set(key, set);
  }
  set.add(peer);
}

export function isBanned(loaded: LoadedShare, peer: number): boolean {
  if (!loaded.setup.peers.get(peer)?.usable) return true;
  return banned.get(registryKey(loaded.keyId, loaded.setupId, loaded.index))?.has(peer) ?? false;
}

/** Test seam only (exported through index.ts `__TESTS`): forget every in-process ban. */
export function clearBans(): void {
  banned.clear();
}

/** False once this share's pairwise setup with `peer` was discarded after a failed check. */
export function isPairwiseSetupUsable(share: KeyShare, peer: number): boolean {
  return !isBanned(loadShare(share), peer);
}

/**
 * A copy of `share` whose pairwise setup with `peer` is wiped and flagged unusable (the node stores
 * it in place of the old share after a ProtocolAbort listing `peer` in `banned`).
 */
export function markPairwiseSetupUnusable(share: KeyShare, peer: number): KeyShare {
  const loaded = loadShare(share);
  const target = loaded.setup.peers.get(peer);
  if (!target) throw new UsageError(`party ${peer} is not a peer of party ${share.index}`);
  banPeer(loaded, peer);
  const peers: PeerSetup[] = [...loaded.setup.peers.values()].map((p) =>
    p.peer === peer ? { ...p, usable: false } : p,
  );
  const secret = keyShareSecret(share);
  const material = new Uint8Array(32 + encodeSetup(peers).length);
  material.set(secret.subarray(0, 32));
  material.set(encodeSetup(peers), 32);
  return new KeyShare({ ...share.publicView(), secretMaterial: material });
}

type Derivation = { readonly tweak: bigint; readonly point: Point; readonly bytes: Uint8Array };

// BIP32 derivations by (group key, chain code, path): public data only, shared by every share of
// the key and kept across loads (a node parses its share anew for every signing, and a wallet signs
// for the same few paths again and again). Bounded; least recently used entry evicted first.
const MAX_DERIVATIONS = 1024;
const derivations = new Map<string, Derivation>();

/** The BIP32 tweak and child key of `path` for this share's key (public data only). */
export function derivationOf(loaded: LoadedShare, path: string): Derivation {
  const key = `${bytesToHex(loaded.groupPoint)}:${bytesToHex(loaded.chainCode)}:${path}`;
  const known = derivations.get(key);
  if (known) {
    derivations.delete(key);
    derivations.set(key, known);
    return known;
  }
  const derived = deriveSecp256k1(loaded.groupPoint, loaded.chainCode, path);
  const entry: Derivation = {
    tweak: derived.tweak,
    point: PointClass.fromBytes(derived.point),
    bytes: derived.point,
  };
  derivations.set(key, entry);
  if (derivations.size > MAX_DERIVATIONS) derivations.delete(derivations.keys().next().value!);
  return entry;
}

/** BIP32 non-hardened child public key (33 bytes) of the threshold key at `path`. */
export function derivePublicKey(share: KeyShare, path: string): Uint8Array {
  return deriveSecp256k1(share.groupPoint, share.chainCode, path).point;
}
