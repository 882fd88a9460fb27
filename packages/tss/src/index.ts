// @coffer/tss public surface. Internal modules are not re-exported; the simulator lives at
// @coffer/tss/simulator.

export { ByteReader, ByteWriter, DecodeError } from './codec/bytes.ts';
export { decodeWire, encodeWire, WIRE_VERSION } from './codec/wire.ts';
export { type DerivedKey, deriveSecp256k1, parseDerivationPath } from './derivation.ts';
export {
  type EcdsaFinishPresignedPartyOptions,
  type EcdsaKeygenPartyOptions,
  type EcdsaPresignPartyOptions,
  type EcdsaRefreshPartyOptions,
  type EcdsaSignPartyOptions,
  ecdsaFinishPresignedParty,
  ecdsaKeygenParty,
  ecdsaPresignParty,
  ecdsaRefreshParty,
  ecdsaSignParty,
  isPairwiseSetupUsable,
  markPairwiseSetupUnusable,
  Presignature,
} from './dkls23/index.ts';
export { type AbortReason, ProtocolAbort, UsageError } from './errors.ts';
export { FrostKeygenParty } from './frost/keygen.ts';
export { FrostSignParty } from './frost/sign.ts';
export { KeyShare, KeyShareError } from './keyshare.ts';
export type { Party, WireMessage } from './party.ts';
export { type Rng, seededRng, systemRng } from './rng.ts';
export type { SchemeId } from './schemes.ts';
export { SCHEMES } from './schemes.ts';
export { Transcript } from './transcript.ts';
