// Bearer API keys: the configuration holds only the SHA-256 of each key and its role; a presented key is
// hashed and compared to every configured hash in constant time (no early exit, so timing does not tell
// which entry matched). Neither the key nor its hash ever appears in an answer or a log line.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Actor, ApiKeyConfig, Role } from '../config/types.ts';
import { OtcError } from '../errors.ts';

/** Longer Authorization values are refused before hashing. */
const MAX_TOKEN_LENGTH = 512;
const BEARER = /^Bearer ([\x21-\x7e]+)$/i;

export type ApiKeyTable = readonly { actor: Actor; hash: Buffer }[];

export function apiKeyTable(keys: readonly ApiKeyConfig[]): ApiKeyTable {
  return keys.map((k, i) => {
    if (!/^[0-9a-f]{64}$/.test(k.sha256))
      throw new OtcError('invalid-request', `apiKeys[${i}].sha256: must be 64 lowercase hex digits`);
    return { actor: { id: k.id, role: k.role }, hash: Buffer.from(k.sha256, 'hex') };
  });
}

/** The SHA-256 (hex) configured for a bearer key — what an operator puts in `apiKeys[].sha256`. */
export function apiKeySha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The actor an Authorization header authenticates, or `unauthenticated`. */
export function authenticate(table: ApiKeyTable, authorization: string | undefined): Actor {
  if (authorization === undefined || authorization === '')
    throw new OtcError('unauthenticated', 'missing API key: send Authorization: Bearer <key>');
  const m = authorization.length <= MAX_TOKEN_LENGTH + 7 ? BEARER.exec(authorization) : null;
  if (!m) throw new OtcError('unauthenticated', 'malformed Authorization header: expected Bearer <key>');
  const hash = createHash('sha256').update(m[1]!, 'utf8').digest();
  let found: Actor | undefined;
  for (const k of table) if (timingSafeEqual(k.hash, hash) && found === undefined) found = k.actor;
  if (!found) throw new OtcError('unauthenticated', 'unknown API key');
  return found;
}

/** Refuses an actor whose role is not among `roles`, naming the roles the route needs. */
export function authorize(actor: Actor, roles: readonly Role[]): void {
  if ((roles as readonly string[]).includes(actor.role)) return;
  throw new OtcError(
    'forbidden',
    `API key "${actor.id}" has role ${actor.role}; this route needs ${roles.join(' or ')}`,
  );
}
