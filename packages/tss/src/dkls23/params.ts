// DKLs23 parameters (Doerner–Kondi–Lee–shelat, ePrint 2023/765, §5; ξ = κ + 2s from DKLs19 §3): the
// computational parameter κ is the bit length of the secp256k1 order and s is the statistical
// parameter. Changing any of these changes every message format.

/** κ: base OTs per direction, PRG seed bits and the number of powers of two in the gadget vector. */
export const KAPPA = 256;
/** s: statistical security parameter. */
export const STAT = 80;
/** ξ = κ + 2s: Bob's input encoding length, i.e. OTs per multiplication (DKLs19 §3, Protocol 1). */
export const XI = KAPPA + 2 * STAT;
/** Bits of the field GF(2^256) used by the OT-extension consistency check (KOS15 corrected, Fig. 10). */
export const CHECK_BITS = 256;
/** Extended OTs per batch: ξ real ones followed by one check block of random padding. */
export const EXTENDED = XI + CHECK_BITS;
export const EXTENDED_BYTES = EXTENDED / 8;
/** Number of GF(2^256) blocks covering the ξ real OTs (the last one zero-padded). */
export const REAL_BLOCKS = Math.ceil(XI / CHECK_BITS);
/** Alice's inputs per multiplication in signing: (r_i, sk_i) — DKLs23 Functionality 3.5 with ℓ = 2. */
export const ELL = 2;
/** Scalars carried per OT by Alice's correlation: ℓ inputs plus one check mask (DKLs23 §5.1). */
export const CORRELATION_WIDTH = ELL + 1;
export const SCALAR_BYTES = 32;
export const POINT_BYTES = 33;
