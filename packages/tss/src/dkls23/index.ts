// DKLs23 threshold ECDSA (Doerner–Kondi–Lee–shelat, ePrint 2023/765). Work in progress: the party
// factories below are the entry points the simulator and the signer node use.
import { UsageError } from '../errors.ts';
import type { KeyShare } from '../keyshare.ts';
import type { Party } from '../party.ts';
import type { Rng } from '../rng.ts';

export type EcdsaKeygenOptions = { session: string; threshold: number; parties: number; rng: Rng };
export type EcdsaSignOptions = {
  session: string;
  /** The signing subset: any t shares of one key, indices not necessarily contiguous. */
  shares: readonly KeyShare[];
  /** 32-byte message digest. */
  message: Uint8Array;
  path?: string;
  rng: Rng;
};

/** One party per index 1..n; each returns its KeyShare. */
export function ecdsaKeygenParties(_opts: EcdsaKeygenOptions): Party<KeyShare>[] {
  throw new UsageError('ecdsa-secp256k1 (DKLs23) is not available yet');
}

/** One party per share; each returns the 65-byte r‖s‖recovery signature (low-s). */
export function ecdsaSignParties(_opts: EcdsaSignOptions): Party<Uint8Array>[] {
  throw new UsageError('ecdsa-secp256k1 (DKLs23) is not available yet');
}
