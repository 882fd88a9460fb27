// What never enters the audit log: secrets. The audit log is exported to auditors and compliance, so a
// token, password, API key or webhook signature that reached an entry's detail would leak with every
// export and could never be removed (removing it breaks the hash chain). `redactSecrets` drops such keys,
// at any depth, before the detail is hashed and stored.
//
// A key is compared after lower-casing and removing '-', '_', '.' and spaces ("Webhook-Signature" →
// "webhooksignature"). It is dropped when it
//   - CONTAINS one of SECRET_PARTS: secret, password, passphrase, apikey, privatekey, mnemonic,
//     authorization, cookie, credential (webhookSecret, newPassword, x-api-key, Authorization, …), or
//   - ENDS WITH one of SECRET_SUFFIXES: token, signature (accessToken, quoteToken, webhook-signature, …).
// The suffix rule keeps harmless names such as `tokenContract` or `signatureCount`.
import { isPlainObject } from '../canonical-json.ts';

export const SECRET_PARTS: readonly string[] = [
  'secret',
  'password',
  'passphrase',
  'apikey',
  'privatekey',
  'mnemonic',
  'authorization',
  'cookie',
  'credential',
];
export const SECRET_SUFFIXES: readonly string[] = ['token', 'signature'];

/** True when a key of that name is treated as a secret and dropped. */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_. ]/g, '');
  return SECRET_PARTS.some((p) => k.includes(p)) || SECRET_SUFFIXES.some((s) => k.endsWith(s));
}

/** A copy of `value` without secret-named keys, at any depth (arrays and plain objects are walked). */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (!isSecretKey(key)) out[key] = redactSecrets(v);
  return out;
}
