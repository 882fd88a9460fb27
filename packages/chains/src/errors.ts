// Typed errors for every chain adapter. Callers switch on `code`, never on message text; `field`
// names the input that could not be accounted for (a dotted path into the request or the decoded
// transaction), so a node can say exactly why it refused to sign.

/** Stable reason codes. */
export type ChainErrorCode =
  | 'invalid-argument' // a caller-supplied option is missing or out of range
  | 'invalid-amount' // negative, zero, too large or malformed amount
  | 'invalid-address' // an address that does not parse for the chain and network
  | 'invalid-public-key' // wrong length, not on the curve, or the wrong format for the script type
  | 'invalid-signature' // wrong length, high s, or does not verify against the wallet key
  | 'malformed-transaction' // bytes that do not decode, or decode non-canonically
  | 'unsupported-transaction' // a transaction type or script the decoder does not handle
  | 'unexpected-field' // a field the decoder cannot account for (access list, memo, PSBT extras…)
  | 'already-signed' // a decoder only accepts unsigned transactions
  | 'chain-id-mismatch' // EVM chain id differs from the configured one
  | 'network-mismatch' // address or output of another network
  | 'unknown-contract-call' // calldata that is not a plain ERC-20/TRC-20 transfer
  | 'unknown-token' // a token contract not in the configured token list
  | 'multiple-recipients' // more than one output or payee outside the wallet
  | 'no-recipient' // nothing leaves the wallet
  | 'foreign-input' // a Bitcoin input that does not belong to the wallet
  | 'wrong-sender' // the transaction spends from another account than the wallet
  | 'unaccounted-value' // value moves that the intent does not describe (e.g. ETH sent with a token call)
  | 'fee-too-high' // fee or fee rate above the configured cap
  | 'fee-too-low' // fee rate below the relay minimum
  | 'dust-output' // an output below the dust threshold
  | 'insufficient-funds' // inputs do not cover amount and fee
  | 'rpc-error' // the endpoint answered with an error or an unexpected shape
  | 'timeout' // the endpoint did not answer in time, or confirmations did not arrive in time
  | 'broadcast-rejected' // the node refused the transaction
  | 'transaction-failed'; // the transaction was mined but failed (reverted)

export class ChainError extends Error {
  override readonly name = 'ChainError';
  readonly code: ChainErrorCode;
  /** Dotted path of the input at fault, or undefined when no single field is to blame. */
  readonly field: string | undefined;

  constructor(
    code: ChainErrorCode,
    field: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(
      field === undefined ? `${code}: ${message}` : `${code}: ${field}: ${message}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.field = field;
  }
}

/** Runs `fn`, turning any non-ChainError into one with the given code and field. */
export function wrapErrors<T>(code: ChainErrorCode, field: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ChainError) throw error;
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ChainError(code, field, detail ?? 'failed', { cause: error });
  }
}
