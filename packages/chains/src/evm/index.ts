// @coffer/chains/evm: addresses, EIP-1559 native and ERC-20 transfers, strict decoding, digests.
export { evmAddressFromPublicKey, parseEvmAddress, ZERO_ADDRESS } from './address.ts';
export { EvmBroadcaster } from './broadcast.ts';
export { type EvmNetwork, NATIVE_DECIMALS, networkName } from './network.ts';
export {
  attachEvmSignature,
  buildEvmTransfer,
  type DecodedEvmTransfer,
  decodeEvmTransfer,
  ERC20_TRANSFER_SELECTOR,
  type EvmFees,
  type EvmTransferRequest,
  evmSigningDigest,
  type UnsignedEvmTransfer,
} from './transfer.ts';
