// Transfer and raw-digest requests (signer-node/docs/policy-api.md, "API"): creation, approvals,
// vetoes, cancellation and views. The lifecycle itself lives in src/requests; this file validates
// bodies (JSON schema: no coercion, no extra fields; errors name the field) and maps API keys to
// policy operators.
import type { ApiKeyConfig } from '../config/config.ts';
import { STATUSES } from '../requests/lifecycle.ts';
import { type RawDigestBody, RequestService, type TransferBody } from '../requests/service.ts';
import { ApiError } from './errors.ts';
import { type App, type Auth, HEX64, type Security, type ServerDeps } from './server.ts';

const REQUEST_ID = '^req-[0-9a-f]{24}$';
const PATH = '^m(/[0-9]{1,10}){0,32}$';
const IDENT = '^[a-z0-9][a-z0-9._-]{0,63}$';
const IDEMPOTENCY_KEY = '^[\\x21-\\x7e]{1,128}$';
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: REQUEST_ID } },
} as const;

/**
 * The body of `POST /v1/transfers` (`POST /v1/policy/dry-run` takes it too, with approvals). A function:
 * server.ts, whose HEX64 it uses, imports this module before its own constants are set.
 */
export function transferBodySchema() {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['wallet', 'keyId', 'chain', 'asset', 'to', 'amount', 'idempotencyKey'],
    properties: {
      wallet: { type: 'string', pattern: IDENT },
      keyId: { type: 'string', pattern: HEX64 },
      path: { type: 'string', pattern: PATH, maxLength: 200 },
      chain: { type: 'string', enum: ['evm', 'bitcoin', 'tron'] },
      asset: {
        type: 'object',
        additionalProperties: false,
        required: ['kind'],
        properties: {
          kind: { type: 'string', enum: ['native', 'token'] },
          contract: { type: 'string', pattern: '^[0-9A-Za-z]{1,64}$' },
        },
      },
      to: { type: 'string', pattern: '^[0-9A-Za-z]{1,100}$' },
      amount: { type: 'string', pattern: '^[1-9][0-9]{0,77}$' },
      idempotencyKey: { type: 'string', pattern: IDEMPOTENCY_KEY },
      reference: { type: 'string', maxLength: 200 },
      unsignedTransaction: { type: 'string', pattern: '^(0x)?([0-9a-f]{2}){1,65536}$' },
      priceSnapshot: { type: 'object' },
    },
  } as const;
}

export function registerRequestRoutes(app: App, d: ServerDeps, auth: Auth, sec: Security): RequestService {
  const service = new RequestService({
    config: d.config,
    db: d.db,
    audit: d.audit,
    wallets: d.wallets,
    sessions: d.sessions,
    log: d.log,
    gate: d.gate,
    metrics: d.metrics,
  });
  d.notices.on('request', (from, topic, body) => service.onNotice(from, topic, body));
  d.gate.useLocalVetoes((id) => service.vetoesOf(id));
  service.start();
  app.addHook('onClose', async () => service.stop());

  const apiKey = (id: string | undefined): ApiKeyConfig => {
    const key = d.config.apiKeys.find((k) => k.id === id);
    if (!key) throw new ApiError(401, 'unauthenticated', 'unknown API key');
    return key;
  };

  app.post(
    '/v1/transfers',
    {
      config: auth(['maker']),
      schema: {
        summary: 'Create a transfer request (maker); the operator is the API key’s',
        security: sec,
        body: transferBodySchema(),
      },
    },
    async (req, reply) => {
      const { created, view } = await service.createTransfer(req.body as TransferBody, apiKey(req.apiKeyId));
      return reply.code(created ? 201 : 200).send(view);
    },
  );

  app.post(
    '/v1/sign',
    {
      config: auth(['maker', 'admin']),
      schema: {
        summary:
          'Raw-digest request (maker, admin): denied unless a policy rule with rawDigest: true allows the wallet',
        security: sec,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['digest'],
          properties: {
            wallet: { type: 'string', pattern: IDENT },
            keyId: { type: 'string', pattern: HEX64 },
            /** The name of `keyId` before transfer requests; accepted for older clients. */
            walletId: { type: 'string', pattern: HEX64 },
            digest: { type: 'string', pattern: '^([0-9a-f]{2}){1,4096}$' },
            path: { type: 'string', pattern: PATH, maxLength: 200 },
            idempotencyKey: { type: 'string', pattern: IDEMPOTENCY_KEY },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as RawDigestBody & { walletId?: string };
      const keyId = b.keyId ?? b.walletId;
      if (keyId === undefined) throw new ApiError(400, 'invalid-request', 'keyId is required', 'keyId');
      if (b.keyId !== undefined && b.walletId !== undefined && b.keyId !== b.walletId)
        throw new ApiError(400, 'invalid-request', 'walletId and keyId name different keys', 'walletId');
      const { walletId: _legacy, ...rest } = b;
      const settled = await service.signRawDigest({ ...rest, keyId }, apiKey(req.apiKeyId));
      if (settled.error !== undefined) throw settled.error;
      const final = settled.view;
      if (final.status === 'denied')
        return reply.code(403).send({
          code: 'policy-denied',
          message: `policy denies this request: ${
            (final.decision?.reasons ?? []).map((r) => `${r.code} (${r.detail})`).join('; ') ||
            (final.error ?? 'denied')
          }`,
          request: final,
        });
      return reply.code(final.status === 'signed' ? 200 : 202).send(final);
    },
  );

  app.get(
    '/v1/requests',
    {
      config: auth(['admin', 'maker', 'approver', 'policy-admin', 'auditor']),
      schema: {
        security: sec,
        summary:
          'Requests this node coordinates or was told about, newest first; with idempotencyKey, the request(s) ' +
          'submitted under that key (the caller operator’s own; every operator’s for admin and auditor keys)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...STATUSES] },
            limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
            idempotencyKey: { type: 'string', pattern: IDEMPOTENCY_KEY },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { status?: (typeof STATUSES)[number]; limit?: string; idempotencyKey?: string };
      if (q.idempotencyKey !== undefined) {
        const found = service.byIdempotencyKey(q.idempotencyKey, apiKey(req.apiKeyId));
        return { requests: q.status === undefined ? found : found.filter((v) => v.status === q.status) };
      }
      return { requests: service.list(q.status, q.limit === undefined ? undefined : Number(q.limit)) };
    },
  );

  app.get(
    '/v1/requests/:id',
    {
      config: auth(['admin', 'maker', 'approver', 'policy-admin', 'auditor']),
      schema: { security: sec, params: idParams },
    },
    async (req) => {
      const view = service.view((req.params as { id: string }).id);
      if (!view) throw new ApiError(404, 'not-found', 'no such request', 'id');
      return view;
    },
  );

  app.post(
    '/v1/requests/:id/approvals',
    {
      config: auth(['approver']),
      schema: {
        security: sec,
        summary:
          'Add an approval (Approval wire); a refused approval is 422 approval-rejected with its reason',
        params: idParams,
        body: { type: 'object' },
      },
    },
    async (req, reply) => {
      try {
        return await service.approve((req.params as { id: string }).id, req.body, apiKey(req.apiKeyId));
      } catch (e) {
        // The contract's refusal names the engine's reason (verifyApproval) next to the field.
        const reason = (e as { reason?: string }).reason;
        if (e instanceof ApiError && e.code === 'approval-rejected')
          return reply.code(422).send({
            code: e.code,
            message: e.message,
            field: 'approval',
            ...(reason !== undefined ? { reason } : {}),
          });
        throw e;
      }
    },
  );

  app.post(
    '/v1/requests/:id/vetoes',
    {
      config: auth(['approver']),
      schema: {
        security: sec,
        summary: 'Veto a request (Veto wire): it is cancelled',
        params: idParams,
        body: { type: 'object' },
      },
    },
    async (req) => service.veto((req.params as { id: string }).id, req.body, apiKey(req.apiKeyId)),
  );

  app.post(
    '/v1/requests/:id/cancel',
    {
      config: auth(['maker']),
      schema: { security: sec, summary: 'Cancel a request before signing (its initiator)', params: idParams },
    },
    async (req) => service.cancel((req.params as { id: string }).id, apiKey(req.apiKeyId)),
  );

  return service;
}
