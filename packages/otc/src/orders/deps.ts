// What the buy desk needs from the rest of the service, passed in explicitly (no globals): the
// database, configuration, a clock, the custody client (signer nodes), destination screening and the
// price path for re-quotes. Tests pass real implementations; only the clock is ever replaced.
import type { AssetConfig, OtcConfig } from '../config/types.ts';
import type { Database } from '../db/database.ts';
import { OtcError } from '../errors.ts';

/** A signer-node request as the desk follows it. */
export type ReleaseStatus = {
  requestId: string;
  nodeStatus: string;
  txHash?: string;
  error?: string;
  reasons?: string[];
};

export interface Custody {
  /** Finds the node request made under `idempotencyKey`, or creates it; never creates a second one. */
  release(r: {
    orderId: string;
    idempotencyKey: string;
    asset: AssetConfig;
    to: string;
    amount: bigint;
    reference: string;
    /** The node the order is pinned to: creates go there only. */
    node?: string;
  }): Promise<ReleaseStatus>;
  /** A node that answers now, to pin a new release to (undefined: none answers). */
  reachableNode?(): Promise<string | undefined>;
  /** The node request made under `idempotencyKey`, if any node knows it. */
  lookup(idempotencyKey: string): Promise<ReleaseStatus | undefined>;
  status(requestId: string): Promise<ReleaseStatus>;
  /** Confirmations of a transaction on the asset's chain (undefined: unknown to the chain). */
  confirmations(asset: AssetConfig, txHash: string): Promise<number | undefined>;
  /** Balance of `address` on the asset's chain, base units (reconciliation of the hot wallet). */
  balanceOf?(asset: AssetConfig, address: string): Promise<bigint>;
  /**
   * What the node request `requestId` transfers, as the nodes signed it (reconciliation compares it with
   * the ledger's delivery). Without it, reconciliation lists every delivery as not verifiable.
   */
  releasedTransfer?(requestId: string): Promise<ReleasedTransfer>;
  /**
   * Whether the request under a key provably never produced a signature (every node answered, none
   * signed): the condition for a new release attempt or a refund after a failed release.
   */
  neverSigned?(idempotencyKey: string): Promise<{ proven: boolean; reason: string }>;
  /** The network fee a release paid, in the chain's native asset (undefined while unknown). */
  networkFee?(asset: AssetConfig, txHash: string): Promise<{ asset: string; amount: bigint } | undefined>;
}

/** A node request's transfer intent: recipient, base units, token contract (none: native), tx hash. */
export type ReleasedTransfer = { to: string; amount: bigint; contract?: string; txHash?: string };

/** Destination screening: resolves when allowed; throws `screening-denied` or `screening-unavailable`. */
export type ScreenDestination = (r: {
  chain: string;
  address: string;
  clientId: string;
  orderId: string;
}) => Promise<void>;

export type BuyDeskDeps = {
  db: Database;
  config: OtcConfig;
  now: () => number;
  custody: Custody;
  screen: ScreenDestination;
};

export function assetConfig(config: OtcConfig, id: string): AssetConfig {
  const asset = config.assets.find((a) => a.id === id);
  if (asset === undefined) throw new OtcError('invalid-request', `unknown asset ${id}`, 'asset');
  return asset;
}

/** Bitcoin and TRON releases need transfers the signer nodes do not build yet. */
export function assertReleasable(asset: AssetConfig): void {
  if (asset.chain !== 'evm')
    throw new OtcError(
      'unsupported-chain',
      `${asset.id} is on ${asset.chain}: the signer nodes do not build ${asset.chain} transfers yet, so the desk cannot release it`,
      'asset',
    );
}

/** Orders at or above the configured threshold of their currency need an ops checker. */
export function deskApprovalRequired(config: OtcConfig, currency: string, fiatAmount: bigint): boolean {
  const threshold = config.deskApproval[currency];
  return threshold !== undefined && fiatAmount >= threshold;
}
