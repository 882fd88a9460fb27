// @coffer/chains/bitcoin: P2WPKH / P2TR addresses, PSBT transfers, strict decoding, digests, finalise.
export {
  addressToScript,
  type BitcoinNetworkName,
  type BitcoinScriptType,
  type BitcoinWallet,
  classifyScript,
  p2trAddress,
  p2wpkhAddress,
  scriptToAddress,
  walletOutput,
} from './address.ts';
export { EsploraBroadcaster } from './broadcast.ts';
export {
  attachBitcoinSignatures,
  type BitcoinDigest,
  type BitcoinFeePolicy,
  type BitcoinTransferRequest,
  bitcoinSigningDigests,
  buildBitcoinTransfer,
  type DecodeBitcoinOptions,
  type DecodedBitcoinTransfer,
  decodeBitcoinTransfer,
  dustThreshold,
  estimateVsize,
  type FinalisedBitcoinTransaction,
  type UnsignedBitcoinTransfer,
  type Utxo,
} from './psbt.ts';
