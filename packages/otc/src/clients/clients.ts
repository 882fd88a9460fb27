// The desk's customers as its backend registers them (Coffer runs no customer login): an id, a KYC tier
// that must exist in configuration, an ISO 3166-1 alpha-2 country and a status. Everything a customer
// does is checked against this row (tier limits, jurisdiction, rate limits).
import type { TierConfig } from '../config/types.ts';
import type { Queryable } from '../db/database.ts';
import { invalid } from '../errors.ts';
import { isCountryCode } from './countries.ts';

export type ClientStatus = 'active' | 'suspended';
export type Client = {
  id: string;
  kycTier: string;
  country: string;
  status: ClientStatus;
  version: number;
  createdAt: Date;
  updatedAt: Date;
};

/** Same shape as a freeze's `client:<id>` scope, so every client can be frozen by id. */
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,64}$/;

type ClientRow = {
  id: string;
  kyc_tier: string;
  country: string;
  status: ClientStatus;
  version: number;
  created_at: Date;
  updated_at: Date;
};

function fromRow(r: ClientRow): Client {
  return {
    id: r.id,
    kycTier: r.kyc_tier,
    country: r.country,
    status: r.status,
    version: Number(r.version),
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

/** Checks a client id from the wire (`field` names it in the error). */
export function parseClientId(value: unknown, field = 'clientId'): string {
  if (typeof value !== 'string' || !CLIENT_ID.test(value))
    throw invalid(field, 'must be 1 to 64 characters of letters, digits, ".", "_", ":" or "-"');
  return value;
}

export type UpsertClient = { id: unknown; kycTier: unknown; country: unknown; status?: unknown };

/** Creates or updates a client (the backend's call); the tier must be configured, the country assigned. */
export async function upsertClient(
  q: Queryable,
  deps: { tiers: readonly TierConfig[] },
  input: UpsertClient,
): Promise<Client> {
  const id = parseClientId(input.id, 'id');
  const { kycTier, country } = input;
  if (typeof kycTier !== 'string' || !deps.tiers.some((t) => t.id === kycTier))
    throw invalid('kycTier', `must be a configured tier (${deps.tiers.map((t) => t.id).join(', ')})`);
  if (typeof country !== 'string' || !isCountryCode(country))
    throw invalid('country', 'must be an ISO 3166-1 alpha-2 code in upper case (DE, US, …)');
  const status = input.status;
  if (status !== undefined && status !== 'active' && status !== 'suspended')
    throw invalid('status', 'must be active or suspended');
  // An update that names no status keeps the current one: a suspension stands until someone lifts it.
  const r = await q.query<ClientRow>(
    `INSERT INTO otc_clients (id, kyc_tier, country, status) VALUES ($1, $2, $3, COALESCE($4, 'active'))
     ON CONFLICT (id) DO UPDATE SET kyc_tier = EXCLUDED.kyc_tier, country = EXCLUDED.country,
       status = COALESCE($4, otc_clients.status), version = otc_clients.version + 1, updated_at = now()
     RETURNING *`,
    [id, kycTier, country, status ?? null],
  );
  return fromRow(r.rows[0]!);
}

/** The client, or undefined. `forUpdate` locks the row for the rest of the transaction. */
export async function getClient(
  q: Queryable,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<Client | undefined> {
  const r = await q.query<ClientRow>(
    `SELECT * FROM otc_clients WHERE id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return r.rows[0] === undefined ? undefined : fromRow(r.rows[0]);
}
