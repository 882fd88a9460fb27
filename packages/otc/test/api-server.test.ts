// The HTTP framework of the OTC service, with tiny test routes registered through buildServer's hook:
// bearer keys and roles (401/403, the key never echoed), ajv errors naming the field for every kind of
// schema failure, malformed and oversized bodies, 404, an unexpected error answered 500 without its
// message, routes refused at registration when unsafe by omission, health/readiness, metrics, /docs, the
// logger's redaction and one real listening socket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeySha256 } from '../src/api/auth.ts';
import { closedObject, errorResponses, positiveAmountString } from '../src/api/schemas.ts';
import { buildServer, createLogger, type OtcApp } from '../src/api/server.ts';
import type { OtcConfig, Role } from '../src/config/types.ts';
import type { Database } from '../src/db/database.ts';
import { OtcError } from '../src/errors.ts';
import { DATABASE_KINDS, freshDatabase } from './helpers/db.ts';

const KEYS: Record<string, { role: Role; token: string }> = {
  backend: { role: 'backend', token: 'otc-test-backend-key-6f1d2a' },
  maker: { role: 'ops-maker', token: 'otc-test-maker-key-93be0c' },
  auditor: { role: 'auditor', token: 'otc-test-auditor-key-0d77aa' },
};

function testConfig(): OtcConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    database: {},
    custody: { nodes: ['http://127.0.0.1:1'], apiKey: 'unused', requestTimeoutMs: 1000, pollMs: 100 },
    assets: [],
    fiat: [],
    tiers: [],
    spreads: [],
    pricing: { source: { kind: 'static', file: '/dev/null', publicKey: '00'.repeat(32) }, maxAgeMs: 60_000 },
    quotes: { firmTtlMs: 30_000, indicativeTtlMs: 60_000, signingKey: new Uint8Array(32) },
    payments: { windowMs: 86_400_000 },
    deskApproval: {},
    autoConfirm: { maxAmount: {}, tiers: [], allowFirstOrder: false },
    compliance: { blockedCountries: [], assetRestrictions: [] },
    webhooks: {},
    apiKeys: Object.entries(KEYS).map(([id, k]) => ({ id, role: k.role, sha256: apiKeySha256(k.token) })),
    logLevel: 'silent',
  };
}

const bearer = (who: keyof typeof KEYS) => ({ authorization: `Bearer ${KEYS[who]!.token}` });

const transferBody = closedObject(
  {
    amount: positiveAmountString,
    side: { type: 'string', enum: ['buy', 'sell'] },
    destination: closedObject(
      {
        chain: { type: 'string', enum: ['evm', 'tron'] },
        address: { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' },
      },
      ['chain', 'address'],
    ),
    tags: { type: 'array', maxItems: 4, items: { type: 'string', maxLength: 8 } },
  },
  ['amount', 'destination'],
);

/** Test routes: a counter POST, an actor echo, an OtcError, an unexpected Error and a query route. */
async function testRoutes(app: OtcApp): Promise<void> {
  app.post(
    '/v1/test/transfers',
    {
      config: { roles: ['backend', 'ops-maker'] },
      schema: { summary: 'test transfer', body: transferBody, response: errorResponses },
    },
    async (req, reply) => {
      const body = req.body as { amount: string };
      return reply.code(201).send({ amount: body.amount, actor: req.actor });
    },
  );
  app.get('/v1/test/whoami', { config: { roles: ['backend', 'ops-maker', 'auditor'] } }, async (req) => ({
    actor: req.actor,
  }));
  app.get('/v1/test/frozen', { config: { roles: ['backend'] } }, async () => {
    throw new OtcError('frozen', 'the desk is frozen', undefined, { scope: 'desk' });
  });
  app.get('/v1/test/boom', { config: { roles: ['backend'] } }, async () => {
    throw new Error('connection to 10.0.0.7:5432 refused');
  });
  app.get('/v1/test/driver', { config: { roles: ['backend'] } }, async () => {
    throw new OtcError('database-error', 'relation otc_secret_table: permission denied for user desk');
  });
  app.get(
    '/v1/test/list',
    {
      config: { roles: ['auditor'] },
      schema: { querystring: closedObject({ limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' } }, []) },
    },
    async (req) => ({ limit: (req.query as { limit?: string }).limit ?? null }),
  );
}

const validBody = {
  amount: '1500000',
  side: 'buy',
  destination: { chain: 'evm', address: `0x${'ab'.repeat(20)}` },
};

describe('OTC HTTP framework', () => {
  let db: Database;
  let app: OtcApp;
  const post = (
    body: unknown,
    headers: Record<string, string> = bearer('backend'),
    key = crypto.randomUUID(),
  ) =>
    app.inject({
      method: 'POST',
      url: '/v1/test/transfers',
      headers: { ...headers, 'idempotency-key': key },
      payload: body as object,
    });

  beforeAll(async () => {
    db = await freshDatabase('pglite');
    app = await buildServer({ config: testConfig(), db }, testRoutes);
  });
  afterAll(async () => {
    await app.close();
    await db.close();
  });

  describe('authentication and roles', () => {
    it('answers 401 without a key, with a malformed header and with an unknown key', async () => {
      for (const authorization of [undefined, 'Basic abc', 'Bearer', 'Bearer not-a-configured-key']) {
        const r = await app.inject({
          method: 'GET',
          url: '/v1/test/whoami',
          headers: authorization ? { authorization } : {},
        });
        expect(r.statusCode).toBe(401);
        expect(r.json().code).toBe('unauthenticated');
        // Never echo what the caller presented (a leaked key in logs or proxies is a leaked key).
        if (authorization) expect(r.body).not.toContain(authorization.slice(7) || 'Basic');
      }
    });

    it('refuses a role the route does not allow with 403 naming the roles it needs, not the key', async () => {
      const r = await post(validBody, bearer('auditor'));
      expect(r.statusCode).toBe(403);
      expect(r.json()).toMatchObject({ code: 'forbidden' });
      expect(r.json().message).toContain('backend or ops-maker');
      expect(r.body).not.toContain(KEYS.auditor!.token);
    });

    it('authenticates before reading the body: an unknown key gets 401 even for an invalid body', async () => {
      const r = await app.inject({
        method: 'POST',
        url: '/v1/test/transfers',
        headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
        payload: '{not json',
      });
      expect(r.statusCode).toBe(401);
    });

    it('gives handlers the authenticated actor (key id and role)', async () => {
      const r = await app.inject({ method: 'GET', url: '/v1/test/whoami', headers: bearer('maker') });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toEqual({ actor: { id: 'maker', role: 'ops-maker' } });
      const p = await post(validBody);
      expect(p.statusCode).toBe(201);
      expect(p.json()).toEqual({ amount: '1500000', actor: { id: 'backend', role: 'backend' } });
    });

    it('accepts the Bearer scheme case-insensitively (RFC 7235)', async () => {
      const r = await app.inject({
        method: 'GET',
        url: '/v1/test/whoami',
        headers: { authorization: `bearer ${KEYS.backend!.token}` },
      });
      expect(r.statusCode).toBe(200);
    });
  });

  describe('validation errors name the field', () => {
    const cases: [string, unknown, string, RegExp][] = [
      ['missing required', { destination: validBody.destination }, 'amount', /amount: is required/],
      ['wrong type', { ...validBody, amount: 1500000 }, 'amount', /amount: must be string/],
      ['money as a number is refused, not coerced', { ...validBody, amount: 1 }, 'amount', /must be string/],
      ['pattern', { ...validBody, amount: '-5' }, 'amount', /amount: must match/],
      ['enum', { ...validBody, side: 'borrow' }, 'side', /side: must be one of "buy", "sell"/],
      ['additional property', { ...validBody, price: '1' }, 'price', /price: is not an allowed field/],
      [
        'nested missing',
        { ...validBody, destination: { chain: 'evm' } },
        'destination.address',
        /is required/,
      ],
      [
        'nested pattern',
        { ...validBody, destination: { chain: 'evm', address: '0x12' } },
        'destination.address',
        /destination.address: must match/,
      ],
      [
        'nested additional',
        { ...validBody, destination: { ...validBody.destination, memo: 'x' } },
        'destination.memo',
        /not an allowed field/,
      ],
      [
        'wrong type of a whole object',
        { ...validBody, destination: 'evm:0xab' },
        'destination',
        /must be object/,
      ],
      ['array item', { ...validBody, tags: ['ok', 'far-too-long'] }, 'tags[1]', /tags\[1\]: /],
      ['body not an object', [1, 2], 'body', /body: must be object/],
    ];
    it.each(cases)('%s → 400 invalid-request naming the field', async (_name, body, field, message) => {
      const r = await post(body);
      expect(r.statusCode).toBe(400);
      const e = r.json();
      expect(e.code).toBe('invalid-request');
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
    });

    it('names a query-string field and does not coerce it', async () => {
      const ok = await app.inject({
        method: 'GET',
        url: '/v1/test/list?limit=25',
        headers: bearer('auditor'),
      });
      expect(ok.json()).toEqual({ limit: '25' });
      const bad = await app.inject({
        method: 'GET',
        url: '/v1/test/list?limit=0',
        headers: bearer('auditor'),
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'invalid-request', field: 'limit' });
      const extra = await app.inject({
        method: 'GET',
        url: '/v1/test/list?lmit=5',
        headers: bearer('auditor'),
      });
      expect(extra.json()).toMatchObject({ code: 'invalid-request', field: 'lmit' });
    });

    it('answers a malformed JSON body 400 naming body', async () => {
      for (const payload of ['{"amount": "1"', '', '{"__proto__": {"admin": true}}']) {
        const r = await app.inject({
          method: 'POST',
          url: '/v1/test/transfers',
          headers: { ...bearer('backend'), 'content-type': 'application/json', 'idempotency-key': 'k-json' },
          payload,
        });
        expect(r.statusCode).toBe(400);
        expect(r.json()).toMatchObject({ code: 'invalid-request', field: 'body' });
      }
    });

    it('refuses a body over 64 KiB with 413 naming body, and a non-JSON content type with 415', async () => {
      const big = await post({ ...validBody, tags: ['x'.repeat(70_000)] });
      expect(big.statusCode).toBe(413);
      expect(big.json()).toMatchObject({ code: 'invalid-request', field: 'body' });
      const text = await app.inject({
        method: 'POST',
        url: '/v1/test/transfers',
        headers: { ...bearer('backend'), 'content-type': 'text/plain', 'idempotency-key': 'k-text' },
        payload: 'amount=1',
      });
      expect(text.statusCode).toBe(415);
      expect(text.json()).toMatchObject({ code: 'invalid-request', field: 'body' });
    });
  });

  describe('error answers', () => {
    it('answers an OtcError with its status, code and details', async () => {
      const r = await app.inject({ method: 'GET', url: '/v1/test/frozen', headers: bearer('backend') });
      expect(r.statusCode).toBe(423);
      expect(r.json()).toEqual({ code: 'frozen', message: 'the desk is frozen', scope: 'desk' });
    });

    it('answers an unexpected error 500 internal without its message or stack (no internals leak)', async () => {
      const r = await app.inject({ method: 'GET', url: '/v1/test/boom', headers: bearer('backend') });
      expect(r.statusCode).toBe(500);
      expect(r.json()).toEqual({ code: 'internal', message: 'internal error' });
      expect(r.body).not.toMatch(/10\.0\.0\.7|at .*\.ts/);
    });

    it('answers a database error without the driver message', async () => {
      const r = await app.inject({ method: 'GET', url: '/v1/test/driver', headers: bearer('backend') });
      expect(r.statusCode).toBe(500);
      expect(r.json()).toEqual({ code: 'database-error', message: 'internal error' });
    });

    it('answers an unknown route 404 not-found as JSON', async () => {
      const r = await app.inject({ method: 'GET', url: '/v1/nothing-here?x=1' });
      expect(r.statusCode).toBe(404);
      expect(r.json()).toEqual({ code: 'not-found', message: 'no route GET /v1/nothing-here' });
    });
  });

  describe('operations endpoints', () => {
    it('answers /healthz 200 without a key', async () => {
      const r = await app.inject({ method: 'GET', url: '/healthz' });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toEqual({ status: 'ok' });
    });

    it('serves the OpenAPI document at /docs with the registered routes, their roles and bearer security', async () => {
      const r = await app.inject({ method: 'GET', url: '/docs' });
      expect(r.statusCode).toBe(200);
      const doc = r.json();
      expect(doc.openapi).toMatch(/^3\./);
      const route = doc.paths['/v1/test/transfers'].post;
      expect(route.security).toEqual([{ apiKey: [] }]);
      expect(route.description).toContain('Roles: backend, ops-maker.');
      expect(route.requestBody.content['application/json'].schema.required).toEqual([
        'amount',
        'destination',
      ]);
      expect(doc.paths['/v1/test/whoami']).toBeDefined();
      expect(doc.paths['/healthz']).toBeUndefined();
      expect(doc.components.securitySchemes.apiKey).toEqual({ type: 'http', scheme: 'bearer' });
    });

    it('exports Prometheus metrics: requests by route and status, and a duration histogram', async () => {
      await app.inject({ method: 'GET', url: '/v1/test/whoami', headers: bearer('auditor') });
      await app.inject({ method: 'GET', url: '/v1/nowhere/123' });
      const r = await app.inject({ method: 'GET', url: '/metrics' });
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = r.body;
      expect(text).toContain('# TYPE otc_http_requests_total counter');
      expect(text).toMatch(
        /otc_http_requests_total\{method="GET",route="\/v1\/test\/whoami",status="200"\} [1-9]/,
      );
      expect(text).toMatch(
        /otc_http_requests_total\{method="POST",route="\/v1\/test\/transfers",status="400"\} /,
      );
      // Unknown URLs share one series: the label set stays bounded.
      expect(text).toContain('route="unmatched",status="404"');
      expect(text).not.toContain('/v1/nowhere/123');
      expect(text).toContain('# TYPE otc_http_request_duration_seconds histogram');
      expect(text).toMatch(
        /otc_http_request_duration_seconds_bucket\{method="GET",route="\/v1\/test\/whoami",le="\+Inf"\} [1-9]/,
      );
      expect(text).toMatch(
        /otc_http_request_duration_seconds_count\{method="GET",route="\/v1\/test\/whoami"\} [1-9]/,
      );
    });
  });

  it('logs requests without the caller key, and logs the unexpected error the answer hides', async () => {
    const lines: string[] = [];
    const log = createLogger('trace', { write: (s: string) => void lines.push(s) });
    const logged = await buildServer({ config: testConfig(), db, log }, testRoutes);
    try {
      await logged.inject({ method: 'GET', url: '/v1/test/whoami', headers: bearer('backend') });
      await logged.inject({ method: 'GET', url: '/v1/test/boom', headers: bearer('backend') });
      const out = lines.join('');
      expect(out).toContain('/v1/test/whoami');
      expect(out).not.toContain(KEYS.backend!.token);
      // The operator still learns what went wrong: the unexpected error is logged, only the answer hides it.
      expect(out).toContain('unexpected error');
      expect(out).toContain('10.0.0.7:5432');
    } finally {
      await logged.close();
    }
  });

  describe('routes unsafe by omission are refused at registration', () => {
    const build = (register: (app: OtcApp) => void) => buildServer({ config: testConfig(), db }, register);

    it('refuses a route with neither roles nor public (it would otherwise be open to anyone)', async () => {
      await expect(build((app) => app.get('/v1/open', async () => ({})))).rejects.toThrow(
        /config.roles is required/,
      );
    });

    it('refuses an unknown role', async () => {
      await expect(
        build((app) => app.get('/v1/x', { config: { roles: ['root' as Role] } }, async () => ({}))),
      ).rejects.toThrow(/unknown role root/);
    });

    it('refuses a body schema that accepts unknown properties, naming the open object', async () => {
      const body = closedObject({ inner: { type: 'object', properties: { a: { type: 'string' } } } }, []);
      await expect(
        build((app) =>
          app.post('/v1/x', { config: { roles: ['backend'] }, schema: { body } }, async () => ({})),
        ),
      ).rejects.toThrow(/schema body.inner must set additionalProperties: false/);
    });

    it('refuses a public POST that expects an Idempotency-Key (no caller to scope it by)', async () => {
      await expect(
        build((app) => app.post('/v1/hook', { config: { public: true } }, async () => ({}))),
      ).rejects.toThrow(/idempotency: false/);
    });
  });

  it('listens on a real socket and answers over HTTP', async () => {
    const served = await buildServer({ config: testConfig(), db }, testRoutes);
    try {
      const address = await served.listen({ host: '127.0.0.1', port: 0 });
      const health = await fetch(`${address}/healthz`);
      expect(health.status).toBe(200);
      const r = await fetch(`${address}/v1/test/transfers`, {
        method: 'POST',
        headers: { ...bearer('maker'), 'content-type': 'application/json', 'idempotency-key': 'socket-1' },
        body: JSON.stringify(validBody),
      });
      expect(r.status).toBe(201);
      expect(await r.json()).toEqual({ amount: '1500000', actor: { id: 'maker', role: 'ops-maker' } });
    } finally {
      await served.close();
    }
  });
});

describe.each(DATABASE_KINDS)('readiness on %s', (kind) => {
  it('answers /readyz 200 while the database answers SELECT 1 and 503 once it is closed', async () => {
    const db = await freshDatabase(kind, { migrated: false });
    const app = await buildServer({ config: testConfig(), db }, () => undefined);
    try {
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ready' });
      await db.close();
      const down = await app.inject({ method: 'GET', url: '/readyz' });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toMatchObject({ code: 'database-error' });
      // The process still runs: liveness stays 200 so an orchestrator does not kill it for a database outage.
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('logging', () => {
  it('redacts authorization, webhook signatures, secrets, tokens and API keys', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (s: string) => void lines.push(s) });
    log.info({
      req: { headers: { authorization: 'Bearer live-key-1', 'webhook-signature': 'v1,c2lnbg==' } },
    });
    log.info({ headers: { authorization: 'Bearer live-key-2' } });
    log.info({
      config: { custody: { apiKey: 'node-key-3' }, webhooks: { outbound: { secret: 'whsec_4' } } },
    });
    log.info({ quote: { token: 'quote-token-5' }, apiKey: 'top-6', hook: { secret: 'whsec_7' } });
    const out = lines.join('');
    for (const secret of [
      'live-key-1',
      'c2lnbg',
      'live-key-2',
      'node-key-3',
      'quote-token-5',
      'top-6',
      'whsec_7',
    ])
      expect(out).not.toContain(secret);
    expect(out).toContain('<redacted>');
  });
});
