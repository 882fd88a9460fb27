// The OTC service's configuration, as the code sees it after parsing (config/parse.ts validates the
// JSON file field by field). Money is bigint here (minor units for fiat, base units for crypto).

/** Desk staff roles and the desk's backend. "Desk approval" is the ops checker's; "policy approval" is the nodes'. */
export type Role = 'backend' | 'ops-maker' | 'ops-checker' | 'compliance' | 'admin' | 'auditor';
export const ROLES: readonly Role[] = [
  'backend',
  'ops-maker',
  'ops-checker',
  'compliance',
  'admin',
  'auditor',
];

/** Who did something: a staff member or the backend (by API key id), or the service itself. */
export type Actor = { id: string; role: Role | 'system' };

export type Chain = 'evm' | 'bitcoin' | 'tron';

export type AssetConfig = {
  /** The desk's asset id: ETH, USDC, BTC, … (upper case letters, digits, '-'). */
  id: string;
  chain: Chain;
  /** CAIP-2 style network of the nodes' policy (eip155:31337). */
  network: string;
  kind: 'native' | 'token';
  /** ERC-20 / TRC-20 contract when kind is token. */
  contract?: string;
  decimals: number;
  /** The hot wallet: policy wallet id, signer-node key id, derivation path and address. */
  wallet: string;
  keyId: string;
  path?: string;
  hotAddress: string;
  /** Confirmations before a release counts as completed. */
  confirmations: number;
};

export type FiatConfig = {
  /** ISO 4217 code. */
  code: string;
  /** ISO 4217 exponent (2 for USD, 0 for JPY). */
  decimals: number;
  /** Where customers pay: shown in payment instructions. */
  account: { bankName: string; accountName: string; accountNumber: string; bic?: string };
};

export type TierLimits = { perOrder: bigint; daily: bigint; monthly: bigint };

export type TierConfig = {
  id: string;
  /** Limits in fiat minor units, per fiat currency. A currency missing here cannot be traded at this tier. */
  limits: Record<string, TierLimits>;
  /** Quote requests per minute per client. */
  quotesPerMinute: number;
};

/** Services the spread table prices; buy and sell are defined now, the others are reserved. */
export type Service = 'buy' | 'sell' | 'send' | 'swap' | 'gas-sponsored-send' | 'batched-send';

/** A spread rule: the most specific match (tier and asset over '*') wins. */
export type SpreadRule = { service: Service; tier: string | '*'; asset: string | '*'; bps: number };

export type PriceSourceConfig =
  /** A static price table signed with an Ed25519 key (hex public key); the demo's source. */
  | { kind: 'static'; file: string; publicKey: string }
  /** An HTTP endpoint answering the same table; strict timeout. */
  | { kind: 'http'; url: string; timeoutMs: number; publicKey?: string };

export type PricingConfig = {
  source: PriceSourceConfig;
  /** A price older than this is never quoted. */
  maxAgeMs: number;
};

export type ApiKeyConfig = { id: string; role: Role; sha256: string };

export type OtcConfig = {
  listen: { host: string; port: number };
  database: { url?: string; dataDir?: string };
  /** Signer nodes and the maker-scoped API key the desk uses with them (the first reachable is used). */
  custody: { nodes: string[]; apiKey: string; requestTimeoutMs: number; pollMs: number; evmRpcUrl?: string };
  assets: AssetConfig[];
  fiat: FiatConfig[];
  tiers: TierConfig[];
  spreads: SpreadRule[];
  pricing: PricingConfig;
  quotes: {
    firmTtlMs: number;
    indicativeTtlMs: number;
    /** HMAC-SHA256 key of firm-quote tokens (32+ bytes). */
    signingKey: Uint8Array;
  };
  payments: { windowMs: number };
  /** Orders at or above this fiat amount (minor units, per currency) need an ops checker's desk approval. */
  deskApproval: Record<string, bigint>;
  /** Fiat-rail webhook confirmations auto-confirm only orders a rule marks low-risk. */
  autoConfirm: { maxAmount: Record<string, bigint>; tiers: string[]; allowFirstOrder: boolean };
  compliance: {
    denylistFile?: string;
    screeningHook?: { url: string; timeoutMs: number };
    blockedCountries: string[];
    /** Assets a country may not trade. */
    assetRestrictions: { asset: string; countries: string[] }[];
  };
  webhooks: {
    /** Where lifecycle events go (the desk's backend); Standard Webhooks secret `whsec_…`. */
    outbound?: { url: string; secret: string; timeoutMs: number };
    /** The fiat rail's Standard Webhooks secret. */
    inbound?: { secret: string; toleranceSeconds: number };
  };
  apiKeys: ApiKeyConfig[];
  logLevel: string;
};
