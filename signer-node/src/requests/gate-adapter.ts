// The policy gate the request service asks (src/policy/gate.ts `PolicyGate`, carried in ServerDeps as
// `gate`). A server built without one (no policy wiring) gets a gate that denies every request, the
// same answer a node without a `policy` section gives.
import type { Decision } from '@coffer/policy/evaluate';
import { requestDigest } from '@coffer/policy/request';
import type { ServerDeps } from '../api/server.ts';
import type { RequestBundle } from '../policy/bundle.ts';
import type { RequestGate } from './service.ts';

export function requestGate(d: ServerDeps): RequestGate {
  const gate = (d as ServerDeps & { gate?: RequestGate }).gate;
  if (gate !== undefined) return gate;
  return {
    async evaluate(bundle: RequestBundle, options: { nowMs: number }): Promise<Decision> {
      return {
        outcome: 'deny',
        policyVersion: 0,
        policyDigest: '',
        requestDigest: requestDigest(bundle.request),
        evaluatedAtMs: options.nowMs,
        reasons: [{ code: 'no-policy', detail: 'no policy configured' }],
        trace: { rulesMatched: [], limits: [], delays: [] },
      };
    },
    policyAt: () => undefined,
  };
}
