// Ledger accounts: the naming scheme (house funds apart from customer funds, one account per owner and
// asset) and idempotent creation. Balances live on the account rows; only transfers.ts changes them.
import { type Queryable, sqlState, violatedConstraint } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';

export type OwnerKind = 'client' | 'house' | 'external';

export type AccountSpec = {
  id: string;
  /** Crypto asset id (ETH, USDC) or ISO 4217 fiat code (USD). */
  asset: string;
  ownerKind: OwnerKind;
  ownerId?: string;
  /** Posted credits may never fall below posted plus pending debits (the database CHECK enforces it). */
  noOverdraft: boolean;
};

/** Asset ids and fiat codes: upper case letters, digits and '-' (as configuration defines them). */
const ASSET = /^[A-Z0-9][A-Z0-9-]{0,31}$/;
/** Client ids become part of account ids, so they may not contain ':' (it separates the parts). */
const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Account and transfer ids: printable ASCII without spaces. */
export const LEDGER_ID = /^[\x21-\x7e]{1,256}$/;

export function checkAsset(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ASSET.test(value))
    throw invalid(field, 'must be an asset id or fiat code (A-Z, 0-9, -; at most 32 characters)');
  return value;
}

export function checkClientId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !CLIENT_ID.test(value))
    throw invalid(field, 'must be a client id (letters, digits, . _ -; at most 128 characters; no colon)');
  return value;
}

export function checkLedgerId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !LEDGER_ID.test(value))
    throw invalid(field, 'must be 1 to 256 printable ASCII characters without spaces');
  return value;
}

/** Account ids of the desk's fixed roles. */
export const accountIds = {
  /** Crypto in the desk's hot wallet (house inventory). */
  houseHot: (asset: string) => `house:hot:${checkAsset(asset, 'asset')}`,
  /** Fiat the desk earned from sales. */
  houseSales: (fiat: string) => `house:sales:${checkAsset(fiat, 'fiatCurrency')}`,
  /** Fees the desk paid or collected in an asset (network fees, for instance). */
  houseFees: (asset: string) => `house:fees:${checkAsset(asset, 'asset')}`,
  /** A customer's funds in one asset or fiat currency, kept apart from house funds. */
  clientAsset: (clientId: string, asset: string) =>
    `client:${checkClientId(clientId, 'clientId')}:${checkAsset(asset, 'asset')}`,
  /** The world outside the desk on a chain: its balance is the negative of what came in from it. */
  externalChain: (asset: string) => `external:chain:${checkAsset(asset, 'asset')}`,
  /** The banking system outside the desk, per fiat currency. */
  externalBank: (fiat: string) => `external:bank:${checkAsset(fiat, 'fiatCurrency')}`,
};

/** The full specification of each fixed account (which of them may go negative, who owns it). */
export const accountSpecs = {
  houseHot: (asset: string): AccountSpec => ({
    id: accountIds.houseHot(asset),
    asset,
    ownerKind: 'house',
    noOverdraft: true,
  }),
  houseSales: (fiat: string): AccountSpec => ({
    id: accountIds.houseSales(fiat),
    asset: fiat,
    ownerKind: 'house',
    noOverdraft: false,
  }),
  houseFees: (asset: string): AccountSpec => ({
    id: accountIds.houseFees(asset),
    asset,
    ownerKind: 'house',
    noOverdraft: false,
  }),
  // A customer's balance can never go negative: a sale larger than the fiat received is refused.
  clientAsset: (clientId: string, asset: string): AccountSpec => ({
    id: accountIds.clientAsset(clientId, asset),
    asset,
    ownerKind: 'client',
    ownerId: clientId,
    noOverdraft: true,
  }),
  externalChain: (asset: string): AccountSpec => ({
    id: accountIds.externalChain(asset),
    asset,
    ownerKind: 'external',
    noOverdraft: false,
  }),
  externalBank: (fiat: string): AccountSpec => ({
    id: accountIds.externalBank(fiat),
    asset: fiat,
    ownerKind: 'external',
    noOverdraft: false,
  }),
};

function checkSpec(spec: AccountSpec): void {
  if (typeof spec !== 'object' || spec === null) throw invalid('account', 'must be an object');
  checkLedgerId(spec.id, 'account.id');
  checkAsset(spec.asset, 'account.asset');
  if (!['client', 'house', 'external'].includes(spec.ownerKind))
    throw invalid('account.ownerKind', 'must be client, house or external');
  if (spec.ownerKind === 'client') checkClientId(spec.ownerId, 'account.ownerId');
  else if (spec.ownerId !== undefined) checkLedgerId(spec.ownerId, 'account.ownerId');
  if (typeof spec.noOverdraft !== 'boolean') throw invalid('account.noOverdraft', 'must be a boolean');
}

type AccountRow = { asset: string; owner_kind: string; owner_id: string | null; no_overdraft: boolean };

/**
 * Creates the account unless it exists. An existing account must match the specification exactly: an
 * account whose asset or overdraft rule silently differed would post money in the wrong unit or let a
 * balance go negative.
 */
export async function ensureAccount(q: Queryable, spec: AccountSpec): Promise<void> {
  checkSpec(spec);
  await q.query(
    `INSERT INTO otc_accounts (id, asset, owner_kind, owner_id, no_overdraft)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
    [spec.id, spec.asset, spec.ownerKind, spec.ownerId ?? null, spec.noOverdraft],
  );
  const r = await q.query<AccountRow>(
    'SELECT asset, owner_kind, owner_id, no_overdraft FROM otc_accounts WHERE id = $1',
    [spec.id],
  );
  const row = r.rows[0];
  if (row === undefined) throw new OtcError('internal', `account ${spec.id} vanished after its creation`);
  const differs: string[] = [];
  if (row.asset !== spec.asset) differs.push(`asset ${row.asset}`);
  if (row.owner_kind !== spec.ownerKind) differs.push(`owner kind ${row.owner_kind}`);
  if ((row.owner_id ?? undefined) !== spec.ownerId) differs.push(`owner ${row.owner_id ?? 'none'}`);
  if (row.no_overdraft !== spec.noOverdraft) differs.push(`no_overdraft ${row.no_overdraft}`);
  if (differs.length > 0)
    throw new OtcError('conflict', `account ${spec.id} exists with ${differs.join(', ')}`, 'account.id');
}

/** True when `e` is the database refusing an overdraft (the otc_accounts_no_overdraft CHECK). */
export function isOverdraftViolation(e: unknown): boolean {
  return sqlState(e) === '23514' && violatedConstraint(e) === 'otc_accounts_no_overdraft';
}
