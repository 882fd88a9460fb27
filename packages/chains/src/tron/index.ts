// @coffer/chains/tron: addresses, TRX and TRC-20 transfers, strict decoding, txID, signatures.
export { formatTronAddress, parseTronAddress, tronAddressFromPublicKey } from './address.ts';
export { TronBroadcaster } from './broadcast.ts';
export {
  attachTronSignature,
  buildTronTransfer,
  type DecodedTronTransfer,
  decodeTronTransfer,
  type SignedTronTransaction,
  type TronNetwork,
  type TronReferenceBlock,
  type TronTransferRequest,
  tronSigningDigest,
  type UnsignedTronTransaction,
} from './transfer.ts';
