// JSON-schema fragments shared by the OTC routes. The server's ajv neither coerces types nor removes
// unknown properties, and buildServer refuses to register a route whose request schema has an object
// that is not closed (additionalProperties false or a schema), so a typo in a request is an error that
// names the field. Money is a decimal string of an integer on the wire, never a JSON number.

/** A non-negative integer as a decimal string (base or minor units), at most 78 digits. */
export const amountString = { type: 'string', pattern: '^(0|[1-9][0-9]{0,77})$' } as const;

/** A positive integer as a decimal string. */
export const positiveAmountString = { type: 'string', pattern: '^[1-9][0-9]{0,77}$' } as const;

/** Ids the desk and its backend choose (clients, orders, quotes): letters, digits, '.', '_', ':', '-'. */
export const idString = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' } as const;

/** A configured asset id (ETH, USDC, …). */
export const assetId = { type: 'string', pattern: '^[A-Z0-9][A-Z0-9-]{0,15}$' } as const;

/** An ISO 4217 currency code. */
export const fiatCode = { type: 'string', pattern: '^[A-Z]{3}$' } as const;

/** An ISO 3166-1 alpha-2 country code. */
export const countryCode = { type: 'string', pattern: '^[A-Z]{2}$' } as const;

/** 32 bytes as 64 lowercase hex digits. */
export const hex64 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

/** An RFC 3339 timestamp in UTC with a 'Z' (what the API answers with and accepts). */
export const timestamp = {
  type: 'string',
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$',
} as const;

/** A page size in a query string (strings there: no coercion). */
export const limitQuery = { type: 'string', pattern: '^[1-9][0-9]{0,3}$' } as const;

/** The body of every error answer: {code, message, field?} plus any details the error carries. */
export const errorSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['code', 'message'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
  },
} as const;

/** Response entries for the error statuses, to spread into a route's `response`. */
export const errorResponses = { '4xx': errorSchema, '5xx': errorSchema } as const;

/** A closed object schema: only `properties`, and `required` among them. */
export function closedObject<P extends Record<string, unknown>, R extends readonly (keyof P & string)[]>(
  properties: P,
  required: R,
) {
  return { type: 'object', additionalProperties: false, required, properties } as const;
}
