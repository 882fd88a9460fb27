// The node's HTTP surface (fastify 5): the versioned client API under /v1 (scoped API keys, JSON
// schemas on every body, errors as {code, message, field?}), the peer endpoint /v1/peer/envelope,
// health, readiness, Prometheus metrics, and the OpenAPI document at /docs.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Keystore } from '@coffer/hsm';
import type { SchemeId } from '@coffer/tss';
import swagger from '@fastify/swagger';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawServerDefault,
} from 'fastify';
import type { Logger } from 'pino';
import { type AuditLog, AuditWriteError } from '../audit/log.ts';
import type { NodeConfig, Scope } from '../config/config.ts';
import type { PolicyGate } from '../policy/gate.ts';
import { SessionError, type SessionManager } from '../sessions/manager.ts';
import { SCHEME_IDS } from '../sessions/parties.ts';
import type { NodeDatabase } from '../storage/db.ts';
import type { Wallet, WalletStore } from '../store/wallets.ts';
import type { NoticeRouter } from '../transport/notices.ts';
import type { PeerTransport } from '../transport/peers.ts';
import type { Metrics } from '../util/metrics.ts';
import { ApiError } from './errors.ts';
import { registerPolicyRoutes } from './policy-routes.ts';
import { registerRequestRoutes } from './request-routes.ts';

export type ServerDeps = {
  config: NodeConfig;
  db: NodeDatabase;
  audit: AuditLog;
  keystore: Keystore;
  wallets: WalletStore;
  sessions: SessionManager;
  transport: PeerTransport;
  metrics: Metrics;
  log: Logger;
  notices: NoticeRouter;
  gate: PolicyGate;
};

declare module 'fastify' {
  interface FastifyContextConfig {
    scopes?: Scope[];
  }
  interface FastifyRequest {
    apiKeyId?: string;
  }
}

export const HEX64 = '^[0-9a-f]{64}$';
const errorSchema = {
  type: 'object',
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
    culprits: { type: 'array', items: { type: 'string' } },
  },
  required: ['code', 'message'],
} as const;
const walletSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    scheme: { type: 'string' },
    threshold: { type: 'integer' },
    parties: { type: 'integer' },
    publicKey: { type: 'string' },
    chainCode: { type: 'string' },
    label: { type: ['string', 'null'] },
    lockedReason: { type: ['string', 'null'] },
    participants: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string' },
    addresses: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

/** Route options that demand one of `scopes` from the caller's API key. */
/** The fastify instance the node builds (its logger is the node's pino logger). */
export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
export type Auth = (scopes: Scope[]) => { scopes: Scope[] };
export type Security = { apiKey: never[] }[];

export async function buildServer(d: ServerDeps) {
  const app = Fastify({
    loggerInstance: d.log,
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  const keys = d.config.apiKeys.map((k) => ({ ...k, hash: Buffer.from(k.sha256, 'hex') }));
  d.metrics.counter('coffer_http_requests_total', 'HTTP requests by route and status');

  await app.register(swagger, {
    openapi: {
      info: { title: 'Coffer signer node', version: '1' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    },
  });

  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: 20 * 1024 * 1024 },
    (_req, body, done) => done(null, body),
  );

  app.addHook('onRequest', async (req: FastifyRequest) => {
    const scopes = req.routeOptions.config.scopes;
    if (!scopes) return;
    const header = req.headers.authorization;
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : undefined;
    if (!token) throw new ApiError(401, 'unauthenticated', 'missing bearer API key');
    const hash = createHash('sha256').update(token).digest();
    const key = keys.find((k) => timingSafeEqual(k.hash, hash));
    if (!key) throw new ApiError(401, 'unauthenticated', 'unknown API key');
    if (!key.scopes.some((s) => scopes.includes(s)))
      throw new ApiError(403, 'forbidden', `API key "${key.id}" lacks scope ${scopes.join(' or ')}`);
    req.apiKeyId = key.id;
  });

  app.addHook('onResponse', async (req, reply) => {
    d.metrics.inc('coffer_http_requests_total', {
      route: req.routeOptions.url ?? 'unknown',
      status: String(reply.statusCode),
    });
  });

  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).send({ code: 'not-found', message: 'no such route' });
  });

  app.setErrorHandler((err: unknown, req, reply: FastifyReply) => {
    const e = err as Error & {
      validation?: Array<Record<string, unknown>>;
      statusCode?: number;
      code?: string;
    };
    if (e instanceof ApiError)
      return reply
        .code(e.status)
        .send({ code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) });
    if (e.validation) {
      const v = e.validation[0] ?? {};
      const params = (v.params ?? {}) as Record<string, string>;
      const path = String(v.instancePath ?? '')
        .replace(/^\//, '')
        .replace(/\//g, '.');
      const field =
        [path, params.missingProperty ?? params.additionalProperty].filter(Boolean).join('.') || undefined;
      const what = params.additionalProperty ? 'is not allowed' : String(v.message ?? 'is invalid');
      return reply.code(400).send({
        code: 'invalid-request',
        message: `${field ?? (e as { validationContext?: string }).validationContext ?? 'request'} ${what}`,
        ...(field ? { field } : {}),
      });
    }
    if (e instanceof SessionError) {
      const status = {
        'not-enough-signers': 503,
        'invalid-request': 400,
        'not-found': 404,
        'wallet-locked': 423,
        'policy-denied': 403,
        'session-aborted': 502,
        'session-timeout': 504,
        'peer-unreachable': 503,
      }[e.code];
      return reply.code(status).send({
        code: e.code,
        message: e.message,
        ...(e.details.field ? { field: e.details.field } : {}),
        ...(e.details.culprits ? { culprits: e.details.culprits } : {}),
      });
    }
    if (e instanceof AuditWriteError)
      return reply
        .code(503)
        .send({ code: e.code, message: 'audit log unavailable; the operation was refused' });
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      const code =
        e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'unsupported-media-type'
          : e.statusCode === 413
            ? 'body-too-large'
            : 'invalid-request';
      const message = code === 'invalid-request' ? 'request body is not valid JSON' : code.replace(/-/g, ' ');
      return reply.code(e.statusCode).send({ code, message });
    }
    req.log.error({ err: { name: e.name, message: e.message } }, 'unhandled error');
    return reply.code(500).send({ code: 'internal', message: 'internal error' });
  });

  // ---- unauthenticated operational endpoints ----
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok', node: d.config.nodeId }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    try {
      d.db.prepare('SELECT 1').get();
      return { status: 'ready', node: d.config.nodeId };
    } catch {
      return reply.code(503).send({ code: 'not-ready', message: 'database unavailable' });
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/plain; version=0.0.4').send(d.metrics.render()),
  );
  app.get('/docs', { schema: { hide: true } }, async () => app.swagger());

  // ---- peers ----
  app.post('/v1/peer/envelope', { schema: { hide: true } }, async (req, reply) => {
    if (!(req.body instanceof Buffer))
      throw new ApiError(415, 'unsupported-media-type', 'application/octet-stream expected');
    const r = d.transport.accept(new Uint8Array(req.body));
    if (!r.ok) {
      req.log.warn({ reason: r.reason, detail: r.detail }, 'peer envelope dropped');
      return reply.code(400).send({ code: 'envelope-dropped', message: r.reason });
    }
    // Answer first: a protocol round can keep the CPU busy longer than the sender's timeout.
    setImmediate(() => {
      d.sessions
        .deliver(r.envelope)
        .catch((e) => req.log.error({ err: (e as Error).message }, 'deliver failed'));
    });
    return reply.code(202).send({ accepted: true });
  });

  // ---- client API ----
  const auth: Auth = (scopes: Scope[]) => ({ scopes });
  const sec: Security = [{ apiKey: [] }];

  app.post(
    '/v1/keys',
    {
      config: auth(['admin']),
      schema: {
        summary: 'Distributed key generation among signer nodes (admin)',
        security: sec,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['scheme', 'threshold', 'parties'],
          properties: {
            scheme: { type: 'string', enum: [...SCHEME_IDS] },
            threshold: { type: 'integer', minimum: 2, maximum: 16 },
            parties: { type: 'integer', minimum: 2, maximum: 16 },
            nodes: {
              type: 'array',
              items: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,31}$' },
              maxItems: 16,
            },
            label: { type: 'string', maxLength: 100 },
          },
        },
        response: { 201: walletSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (req, reply) => {
      const b = req.body as {
        scheme: SchemeId;
        threshold: number;
        parties: number;
        nodes?: string[];
        label?: string;
      };
      if (b.threshold > b.parties)
        throw new ApiError(400, 'invalid-request', 'threshold must not exceed parties', 'threshold');
      const wallet = await d.sessions.keygen(b, `api:${req.apiKeyId}`);
      return reply.code(201).send(await withAddresses(wallet));
    },
  );

  app.get(
    '/v1/wallets',
    {
      config: auth(['admin', 'maker', 'auditor']),
      schema: { security: sec, summary: 'Wallets whose share this node holds' },
    },
    async () => ({
      wallets: d.wallets.list().map(publicWallet),
    }),
  );

  app.get(
    '/v1/wallets/:id',
    {
      config: auth(['admin', 'maker', 'auditor']),
      schema: {
        security: sec,
        summary: 'One wallet with its derived addresses',
        params: { type: 'object', properties: { id: { type: 'string', pattern: HEX64 } }, required: ['id'] },
        response: { 200: walletSchema, '4xx': errorSchema },
      },
    },
    async (req) => {
      const w = d.wallets.get((req.params as { id: string }).id);
      if (!w) throw new ApiError(404, 'not-found', 'no such wallet', 'id');
      return withAddresses(w);
    },
  );

  app.post(
    '/v1/wallets/:id/clear-lock',
    {
      config: auth(['admin']),
      schema: {
        security: sec,
        summary: 'Clear a review lock set by a failed final signature check (admin, after review)',
        params: { type: 'object', properties: { id: { type: 'string', pattern: HEX64 } }, required: ['id'] },
      },
    },
    async (req) => ({
      cleared: d.sessions.clearWalletLock((req.params as { id: string }).id, `api:${req.apiKeyId}`),
    }),
  );

  const requests = registerRequestRoutes(app, d, auth, sec);
  registerPolicyRoutes(app, d, auth, sec, requests);

  app.get(
    '/v1/sessions',
    {
      config: auth(['admin', 'auditor']),
      schema: {
        security: sec,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
            status: { type: 'string', enum: ['running', 'done', 'aborted', 'timed-out'] },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { limit?: string; status?: string };
      const rows = d.db
        .prepare(
          `SELECT id, kind, scheme, key_id, coordinator, participants, status, round, reason, culprits, created_at, updated_at
           FROM sessions WHERE (? IS NULL OR status = ?) ORDER BY created_at DESC LIMIT ?`,
        )
        .all(q.status ?? null, q.status ?? null, Math.min(Number(q.limit ?? 100), 1000)) as Array<
        Record<string, unknown>
      >;
      return {
        sessions: rows.map((r) => ({
          id: r.id,
          kind: r.kind,
          scheme: r.scheme,
          walletId: r.key_id,
          coordinator: r.coordinator,
          participants: JSON.parse(String(r.participants)),
          status: r.status,
          round: r.round,
          reason: r.reason,
          culprits: r.culprits ? JSON.parse(String(r.culprits)) : [],
          createdAt: r.created_at,
          updatedAt: r.updated_at,
        })),
      };
    },
  );

  app.get('/v1/peers', { config: auth(['admin', 'auditor']), schema: { security: sec } }, async () => ({
    self: { id: d.config.nodeId, identityKey: bytesToHex(d.keystore.identity.publicKey) },
    peers: d.config.peers.map((p) => ({
      id: p.id,
      url: p.url,
      identityKey: p.identityKey,
      banned: d.sessions.bannedPeers().includes(p.id),
    })),
  }));

  app.post(
    '/v1/peers/:id/clear-ban',
    {
      config: auth(['admin']),
      schema: {
        security: sec,
        params: {
          type: 'object',
          properties: { id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,31}$' } },
        },
      },
    },
    async (req) => ({
      cleared: d.sessions.clearBan((req.params as { id: string }).id, `api:${req.apiKeyId}`),
    }),
  );

  app.get('/v1/audit/verify', { config: auth(['admin', 'auditor']), schema: { security: sec } }, async () =>
    d.audit.verify(d.keystore.identity.publicKey),
  );

  return app;
}

function publicWallet(w: Wallet) {
  const { shareIndex: _omit, ...rest } = w;
  return rest;
}

async function withAddresses(w: Wallet) {
  const addresses: Record<string, string> = {};
  const key = hexToBytes(w.publicKey);
  // Loaded on first use: the chain libraries are large and not needed to start a node.
  if (w.scheme === 'ecdsa-secp256k1') {
    const [{ evmAddressFromPublicKey }, { tronAddressFromPublicKey }, { p2wpkhAddress }] = await Promise.all([
      import('@coffer/chains/evm'),
      import('@coffer/chains/tron'),
      import('@coffer/chains/bitcoin'),
    ]);
    addresses.evm = evmAddressFromPublicKey(key);
    addresses.tron = tronAddressFromPublicKey(key);
    addresses.bitcoinP2wpkh = p2wpkhAddress(key, 'mainnet');
  } else if (w.scheme === 'schnorr-secp256k1-tr') {
    const { p2trAddress } = await import('@coffer/chains/bitcoin');
    addresses.bitcoinP2tr = p2trAddress(key, 'mainnet');
  }
  return { ...publicWallet(w), addresses };
}
