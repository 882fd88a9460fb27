// Signing requests: raw-digest signing and request status (signer-node/docs/policy-api.md).
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import type { NodeDatabase } from '../storage/db.ts';
import { ApiError } from './errors.ts';
import { type App, type Auth, HEX64, type Security, type ServerDeps } from './server.ts';

export function registerRequestRoutes(app: App, d: ServerDeps, auth: Auth, sec: Security): void {
  app.post(
    '/v1/sign',
    {
      config: auth(['admin']),
      schema: {
        summary: 'Threshold-sign a raw digest (admin only until the policy engine lands)',
        security: sec,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['walletId', 'digest'],
          properties: {
            walletId: { type: 'string', pattern: HEX64 },
            digest: { type: 'string', pattern: '^([0-9a-f]{2}){1,4096}$' },
            path: { type: 'string', pattern: '^m(/[0-9]{1,10})*$', maxLength: 200 },
            idempotencyKey: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
      },
    },
    async (req) => {
      const b = req.body as { walletId: string; digest: string; path?: string; idempotencyKey?: string };
      const path = b.path ?? 'm';
      const wallet = d.wallets.get(b.walletId);
      if (!wallet) throw new ApiError(404, 'not-found', 'no such wallet', 'walletId');
      if (wallet.scheme === 'eddsa-ed25519' && path !== 'm')
        throw new ApiError(
          400,
          'invalid-request',
          'eddsa-ed25519 keys support no derivation; path must be m',
          'path',
        );
      if (b.idempotencyKey) {
        const existing = d.db
          .prepare('SELECT id FROM signing_requests WHERE idempotency_key = ?')
          .get(b.idempotencyKey) as { id: string } | undefined;
        if (existing) return requestView(d.db, existing.id);
      }
      const id = `req-${bytesToHex(randomBytes(12))}`;
      const actor = `api:${req.apiKeyId}`;
      // Refuse before anything happens if the request cannot be logged.
      d.audit.append('sign.requested', actor, id, { wallet: b.walletId, digest: b.digest, path });
      const t = new Date().toISOString();
      d.db
        .prepare(
          `INSERT INTO signing_requests (id, idempotency_key, key_id, path, digest, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
        )
        .run(id, b.idempotencyKey ?? null, b.walletId, path, b.digest, t, t);
      try {
        const r = await d.sessions.sign(
          { walletId: b.walletId, message: hexToBytes(b.digest), path, requestId: id },
          actor,
        );
        d.db
          .prepare(
            "UPDATE signing_requests SET status = 'signed', signature = ?, updated_at = ? WHERE id = ?",
          )
          .run(r.signature, new Date().toISOString(), id);
        d.audit.append('sign.result', actor, id, {
          status: 'signed',
          session: r.sessionId,
          signers: r.signers,
        });
      } catch (e) {
        d.db
          .prepare("UPDATE signing_requests SET status = 'failed', error = ?, updated_at = ? WHERE id = ?")
          .run((e as Error).message, new Date().toISOString(), id);
        d.audit.append('sign.result', actor, id, { status: 'failed', error: (e as Error).message });
        throw e;
      }
      return requestView(d.db, id);
    },
  );

  app.get(
    '/v1/requests/:id',
    {
      config: auth(['admin', 'maker', 'auditor']),
      schema: {
        security: sec,
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^req-[0-9a-f]{24}$' } } },
      },
    },
    async (req) => {
      const v = requestView(d.db, (req.params as { id: string }).id);
      if (!v) throw new ApiError(404, 'not-found', 'no such request', 'id');
      return v;
    },
  );
}

function requestView(db: NodeDatabase, id: string) {
  const r = db.prepare('SELECT * FROM signing_requests WHERE id = ?').get(id) as
    | Record<string, unknown>
    | undefined;
  if (!r) return undefined;
  return {
    id: r.id,
    walletId: r.key_id,
    path: r.path,
    digest: r.digest,
    status: r.status,
    signature: r.signature ?? null,
    error: r.error ?? null,
    signers: r.signers ? JSON.parse(String(r.signers)) : [],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
