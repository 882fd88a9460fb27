// Policy versions and dry-run evaluation (signer-node/docs/policy-api.md).
import type { App, Auth, Security, ServerDeps } from './server.ts';

export function registerPolicyRoutes(_app: App, _d: ServerDeps, _auth: Auth, _sec: Security): void {
  // Routes are added with the policy gate (signer-node/src/policy).
}
