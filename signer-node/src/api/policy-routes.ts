// Policy versions and dry-run evaluation (signer-node/docs/policy-api.md): `GET /v1/policy`,
// `POST /v1/policy/versions` (verified here, recorded with this node's own receipt time, forwarded to
// peers, each of which verifies it again) and `POST /v1/policy/dry-run` (the request service's own
// transfer preparation, then the gate's full evaluation; nothing stored).
import { PolicyVersionError } from '../policy/governance.ts';
import type { RequestService, TransferBody } from '../requests/service.ts';
import { ApiError } from './errors.ts';
import { transferBodySchema } from './request-routes.ts';
import type { App, Auth, Security, ServerDeps } from './server.ts';

const ANY_SCOPE = ['admin', 'maker', 'approver', 'policy-admin', 'auditor'] as const;

/** A transfer body (as `POST /v1/transfers` takes it) plus approvals to evaluate with. */
type DryRunBody = TransferBody & { approvals?: unknown[] };

export function registerPolicyRoutes(
  app: App,
  d: ServerDeps,
  auth: Auth,
  sec: Security,
  requests: RequestService,
): void {
  const transferBody = transferBodySchema();
  app.get(
    '/v1/policy',
    {
      config: auth([...ANY_SCOPE]),
      schema: { security: sec, summary: 'Active policy version and every known version' },
    },
    async () => d.gate.policyView(),
  );

  app.post(
    '/v1/policy/versions',
    {
      config: auth(['policy-admin']),
      schema: {
        security: sec,
        summary: 'Submit a signed policy version (verified by every node, forwarded to peers)',
        body: { type: 'object' },
      },
    },
    async (req, reply) => {
      try {
        const view = d.gate.submitVersion(req.body, `api:${req.apiKeyId}`, true);
        return reply.code(201).send(view);
      } catch (e) {
        if (e instanceof PolicyVersionError)
          throw new ApiError(422, 'invalid-policy-version', e.message, e.field);
        if (e instanceof Error && /no policy configured/.test(e.message))
          throw new ApiError(409, 'no-policy', 'this node has no policy section; it refuses every signature');
        throw e;
      }
    },
  );

  app.post(
    '/v1/policy/dry-run',
    {
      config: auth(['maker', 'admin', 'auditor']),
      schema: {
        security: sec,
        summary: 'Evaluate a transfer under this node policy, without side effects',
        body: {
          ...transferBody,
          properties: { ...transferBody.properties, approvals: { type: 'array', maxItems: 64 } },
        },
      },
    },
    async (req) => {
      const b = req.body as DryRunBody;
      const apiKey = d.config.apiKeys.find((k) => k.id === req.apiKeyId);
      if (!apiKey) throw new ApiError(401, 'unauthenticated', 'unknown API key');
      const { approvals, ...body } = b;
      return { decision: await requests.dryRunTransfer(body, apiKey, approvals ?? []) };
    },
  );
}
