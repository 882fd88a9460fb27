// The OTC service's HTTP framework (fastify 5), without business routes: bearer API keys with a role per
// key checked on every route (`config: { roles }`), the authenticated actor on `req.actor`, JSON schemas
// with no coercion and no unknown properties, errors as {code, message, field?}, Idempotency-Key on every
// POST (api/idempotency.ts), /healthz, /readyz, Prometheus /metrics, the OpenAPI document at /docs and a
// pino logger with redaction. The business modules add their routes through `register`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawServerDefault,
  type RouteOptions,
} from 'fastify';
import { type DestinationStream, type Logger, pino } from 'pino';
import { type Actor, type OtcConfig, ROLES, type Role } from '../config/types.ts';
import type { Database } from '../db/database.ts';
import { OtcError } from '../errors.ts';
import { type ApiKeyTable, apiKeyTable, authenticate, authorize } from './auth.ts';
import { IDEMPOTENCY_HEADER, installIdempotency, REPLAYED_HEADER } from './idempotency.ts';
import { Metrics } from './metrics.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Roles allowed to call the route (any one of them). Every route has roles or `public: true`. */
    roles?: readonly Role[];
    /** An unauthenticated route (health, metrics, docs, the signed fiat-rail webhook). */
    public?: boolean;
    /** false: a POST route without Idempotency-Key (it has its own replay protection). */
    idempotency?: boolean;
    /** true: the exact JSON body text is kept for `rawBodyOf(req)` (webhook signatures). */
    rawBody?: boolean;
  }
  interface FastifyRequest {
    /** The caller authenticated by its API key; reading it on a public route throws. */
    readonly actor: Actor;
  }
}

export const BODY_LIMIT_BYTES = 64 * 1024;
const READY_TIMEOUT_MS = 2_000;

/** Log paths whose values are replaced by "<redacted>" (keys, signatures, secrets, tokens). */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers["webhook-signature"]',
  'headers.authorization',
  'headers["webhook-signature"]',
  ...['token', 'apiKey', 'secret', 'signingKey', 'password'].flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
];

export type OtcApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

/** What the business modules get when they register their routes. */
export type ServerContext = {
  config: OtcConfig;
  db: Database;
  log: Logger;
  /** The clock in epoch milliseconds, as the desk's (tests inject one). */
  now: () => number;
  /** The service's Prometheus registry: modules add their own counters and histograms. */
  metrics: Metrics;
};

export type BuildServerOptions = {
  config: OtcConfig;
  db: Database;
  log?: Logger;
  now?: () => number;
  metrics?: Metrics;
  /** In-progress idempotency claims older than this are taken as abandoned (default 5 min). */
  idempotencyStaleAfterMs?: number;
};

export type RegisterRoutes = (app: OtcApp, ctx: ServerContext) => void | Promise<void>;

/** The service's pino logger with the redaction every log line goes through. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: [...REDACT_PATHS], censor: '<redacted>' } }, destination);
}

const actors = new WeakMap<FastifyRequest, Actor>();
const rawBodies = new WeakMap<FastifyRequest, string>();

/** The authenticated caller of a request (also `req.actor`). */
export function actorOf(req: FastifyRequest): Actor {
  const actor = actors.get(req);
  if (actor === undefined) throw new OtcError('internal', 'this route has no authenticated caller');
  return actor;
}

/** The exact JSON text of a body, on routes with `config: { rawBody: true }`. */
export function rawBodyOf(req: FastifyRequest): string {
  const raw = rawBodies.get(req);
  if (raw === undefined) throw new OtcError('internal', 'this route does not keep its raw body');
  return raw;
}

export async function buildServer(o: BuildServerOptions, register: RegisterRoutes): Promise<OtcApp> {
  const log = o.log ?? createLogger(o.config.logLevel);
  const ctx: ServerContext = {
    config: o.config,
    db: o.db,
    log,
    now: o.now ?? Date.now,
    metrics: o.metrics ?? new Metrics(),
  };
  const app: OtcApp = Fastify({
    loggerInstance: log,
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: 60_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  app.decorateRequest('actor', {
    getter: function (this: FastifyRequest) {
      return actorOf(this);
    },
  });
  app.addHook('onRoute', checkRoute);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Coffer OTC desk',
        version: '1',
        description:
          'Errors are {code, message, field?}. Every POST needs an Idempotency-Key header (1–128 printable ' +
          'ASCII characters): the same key and body replays the first answer, another body is a 409.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    },
  });
  installJsonParser(app);
  installAuth(app, apiKeyTable(o.config.apiKeys));
  installMetrics(app, ctx.metrics);
  installIdempotency(app, {
    db: o.db,
    now: ctx.now,
    log,
    actorOf,
    ...(o.idempotencyStaleAfterMs !== undefined ? { staleAfterMs: o.idempotencyStaleAfterMs } : {}),
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ code: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
  app.setErrorHandler((err, req, reply) => sendError(err, req, reply));
  registerOperationalRoutes(app, ctx);
  try {
    await register(app, ctx);
  } catch (e) {
    // A route refused at registration: nothing of the half-built server stays open.
    await app.close().catch(() => undefined);
    throw e;
  }
  return app;
}

/**
 * Refuses, at registration, a route that would be unsafe by omission: no roles and not marked public, a
 * role that does not exist, a public POST that expects an Idempotency-Key it has no caller to scope by, or
 * a request schema with an object that accepts unknown properties.
 */
function checkRoute(route: RouteOptions): void {
  const name = `${route.method} ${route.url}`;
  const c = route.config ?? {};
  if (c.public !== true && (c.roles === undefined || c.roles.length === 0))
    throw new OtcError(
      'internal',
      `route ${name}: config.roles is required (or config.public: true)`,
      'route',
    );
  if (c.public === true && c.roles !== undefined)
    throw new OtcError('internal', `route ${name}: a public route has no roles`, 'route');
  for (const r of c.roles ?? [])
    if (!ROLES.includes(r)) throw new OtcError('internal', `route ${name}: unknown role ${r}`, 'route');
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  if (c.public === true && methods.includes('POST') && c.idempotency !== false)
    throw new OtcError(
      'internal',
      `route ${name}: a public POST route must set config.idempotency: false`,
      'route',
    );
  const schema = (route.schema ?? {}) as Record<string, unknown>;
  for (const part of ['body', 'querystring', 'params']) {
    const open = openObjectPath(schema[part], part);
    if (open !== undefined)
      throw new OtcError(
        'internal',
        `route ${name}: schema ${open} must set additionalProperties: false`,
        'route',
      );
  }
  if (c.roles !== undefined) {
    const roles = `Roles: ${c.roles.join(', ')}.`;
    route.schema = {
      ...schema,
      security: [{ apiKey: [] }],
      description: typeof schema.description === 'string' ? `${schema.description}\n\n${roles}` : roles,
    };
  }
}

/** The path of the first object schema that accepts unknown properties, if any. */
function openObjectPath(s: unknown, path: string): string | undefined {
  if (s === null || typeof s !== 'object') return undefined;
  const o = s as Record<string, unknown>;
  const isObject = o.type === 'object' || (Array.isArray(o.type) && o.type.includes('object'));
  if ((isObject || o.properties !== undefined) && o.$ref === undefined) {
    if (o.additionalProperties === undefined || o.additionalProperties === true) return path;
  }
  const children: [unknown, string][] = [
    ...Object.entries((o.properties ?? {}) as Record<string, unknown>).map(([k, v]): [unknown, string] => [
      v,
      `${path}.${k}`,
    ]),
    ...Object.values((o.patternProperties ?? {}) as Record<string, unknown>).map((v): [unknown, string] => [
      v,
      `${path}.*`,
    ]),
    [o.additionalProperties, `${path}.*`],
    ...(Array.isArray(o.items) ? o.items : [o.items]).map((v): [unknown, string] => [v, `${path}[]`]),
    ...['oneOf', 'anyOf', 'allOf'].flatMap((k) =>
      ((o[k] ?? []) as unknown[]).map((v): [unknown, string] => [v, path]),
    ),
  ];
  for (const [child, p] of children) {
    const open = openObjectPath(child, p);
    if (open !== undefined) return open;
  }
  return undefined;
}

/** fastify's own JSON parser (prototype poisoning refused), keeping the text for routes that ask. */
function installJsonParser(app: OtcApp): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // JSON only: a text/plain body would otherwise reach the schema as a string.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (req.routeOptions.config.rawBody === true) rawBodies.set(req, body as string);
    parseJson(req, body as string, done);
  });
}

function installAuth(app: OtcApp, keys: ApiKeyTable): void {
  app.addHook('onRequest', async (req) => {
    const roles = req.routeOptions.config.roles;
    if (roles === undefined) return;
    const actor = authenticate(keys, req.headers.authorization);
    authorize(actor, roles);
    actors.set(req, actor);
  });
}

function installMetrics(app: OtcApp, metrics: Metrics): void {
  metrics.counter('otc_http_requests_total', 'HTTP requests by method, route and status');
  metrics.histogram('otc_http_request_duration_seconds', 'HTTP request durations by method and route');
  metrics.counter(
    'otc_http_idempotent_replays_total',
    'POST answers replayed for a repeated Idempotency-Key',
  );
  app.addHook('onResponse', async (req, reply) => {
    // The route pattern, never the raw URL: the set of series stays bounded.
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.inc('otc_http_requests_total', {
      method: req.method,
      route,
      status: String(reply.statusCode),
    });
    metrics.observe(
      'otc_http_request_duration_seconds',
      { method: req.method, route },
      reply.elapsedTime / 1000,
    );
    if (reply.getHeader(REPLAYED_HEADER) === 'true')
      metrics.inc('otc_http_idempotent_replays_total', { route });
  });
}

type ErrorAnswer = { status: number; body: { code: string; message: string; field?: string } };

/** The JSON answer for any error; an unexpected one is logged and answered without its message. */
function sendError(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = errorAnswer(err);
  if (answer === undefined) {
    const e = err as Error;
    req.log.error({ err: { name: e?.name, message: e?.message, stack: e?.stack } }, 'unexpected error');
    return reply.code(500).send({ code: 'internal', message: 'internal error' });
  }
  if (err instanceof OtcError && answer.status >= 500)
    req.log.error({ err: { code: err.code, message: err.message } }, 'request failed');
  const retryAfter = err instanceof OtcError ? err.extra?.retryAfterSeconds : undefined;
  if (typeof retryAfter === 'number') reply.header('retry-after', String(Math.ceil(retryAfter)));
  return reply.code(answer.status).send(answer.body);
}

/** Codes whose messages may carry internals (driver errors): answered with a generic message. */
const OPAQUE_CODES = new Set(['internal', 'database-error', 'schema-too-new']);

function errorAnswer(err: unknown): ErrorAnswer | undefined {
  if (err instanceof OtcError) {
    const body = err.toJSON() as ErrorAnswer['body'];
    if (OPAQUE_CODES.has(err.code))
      return { status: err.status, body: { code: err.code, message: 'internal error' } };
    return { status: err.status, body };
  }
  const e = err as FastifyError & { validationContext?: string };
  if (Array.isArray(e?.validation)) return validationAnswer(e.validation[0], e.validationContext ?? 'body');
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return invalidBody(413, `larger than ${BODY_LIMIT_BYTES} bytes`);
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return invalidBody(415, 'content type must be application/json');
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_JSON_BODY')
    return invalidBody(400, 'not valid JSON');
  if (e instanceof SyntaxError && e.statusCode === 400) return invalidBody(400, 'not valid JSON');
  if (
    code.startsWith('FST_') &&
    typeof e.statusCode === 'number' &&
    e.statusCode >= 400 &&
    e.statusCode < 500
  )
    return { status: e.statusCode, body: { code: 'invalid-request', message: `request: ${e.message}` } };
  return undefined;
}

function invalidBody(status: number, reason: string): ErrorAnswer {
  return { status, body: { code: 'invalid-request', message: `body: ${reason}`, field: 'body' } };
}

type AjvError = {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
};

/** An ajv error as {field, reason}: the field is the JSON path of the offending property (a.b[0].c). */
function validationAnswer(v: AjvError | undefined, context: string): ErrorAnswer {
  const params = v?.params ?? {};
  const segments = String(v?.instancePath ?? '')
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const extra = params.missingProperty ?? params.additionalProperty;
  if (typeof extra === 'string') segments.push(extra);
  const field = segments.reduce((p, s) => (/^[0-9]+$/.test(s) ? `${p}[${s}]` : p ? `${p}.${s}` : s), '');
  const named = field === '' ? context : field;
  return {
    status: 400,
    body: { code: 'invalid-request', message: `${named}: ${validationReason(v)}`, field: named },
  };
}

function validationReason(v: AjvError | undefined): string {
  const p = v?.params ?? {};
  switch (v?.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not an allowed field';
    case 'type':
      return `must be ${String(p.type)}`;
    case 'pattern':
      return `must match ${String(p.pattern)}`;
    case 'enum':
      return `must be one of ${((p.allowedValues as unknown[]) ?? []).map((x) => JSON.stringify(x)).join(', ')}`;
    default:
      return v?.message ?? 'is invalid';
  }
}

function registerOperationalRoutes(app: OtcApp, ctx: ServerContext): void {
  const open = { config: { public: true }, schema: { hide: true } } as const;
  app.get('/healthz', open, async () => ({ status: 'ok' }));
  app.get('/readyz', open, async (_req, reply) => {
    if (await databaseAnswers(ctx.db)) return { status: 'ready' };
    return reply.code(503).send({ code: 'database-error', message: 'the database does not answer' });
  });
  app.get('/metrics', open, async (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render()),
  );
  app.get('/docs', open, async () => app.swagger());
}

async function databaseAnswers(db: Database): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
  });
  const probe = db.query('SELECT 1 AS one').then(
    (r) => r.rows.length === 1,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export { IDEMPOTENCY_HEADER, REPLAYED_HEADER };
