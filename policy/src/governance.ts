// Governance (DESIGN §5): a policy version takes effect only when m of the configured policy admins
// signed its digest (Ed25519) and after its timelock. Every node verifies the signatures itself and
// evaluates a request under the version that was in force when the request was submitted.
//
// The admin set, m and the timelock are node configuration fixed at cluster initialisation; they are not
// read from the policy document, so a policy cannot lower its own bar.
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { taggedMessage } from './canonical.ts';
import { type PolicyDocument, parsePolicy, policyDigest } from './document.ts';
import { PolicyError } from './errors.ts';
import { type Decision, type EvaluationContext, evaluate } from './evaluate.ts';
import { type SigningKey, verifyEd25519 } from './keys.ts';
import { type PolicyRequest, requestDigest } from './request.ts';

export const POLICY_ADMIN_DOMAIN = 'coffer/policy-admin/1';

export interface GovernanceConfig {
  admins: { id: string; publicKey: string }[];
  /** m: distinct admin signatures a version needs. */
  threshold: number;
  /** Minimum time between a node receiving a version and the version taking effect. */
  timelockMs: number;
}

export interface AdminSignature {
  adminId: string;
  signature: string;
}

export interface SignedPolicyVersion {
  /** The policy document in its wire (JSON) form, exactly as the admins published it. */
  document: unknown;
  signatures: AdminSignature[];
  /** When this node first received the version (from its own audit log), the start of the timelock. */
  receivedAtMs: number;
}

function payload(digest: string, version: number): Uint8Array {
  return taggedMessage(POLICY_ADMIN_DOMAIN, { policyDigest: digest, version });
}

/** An admin's signature over a policy version's digest. */
export function signPolicy(policy: PolicyDocument, adminId: string, key: SigningKey): AdminSignature {
  return {
    adminId,
    signature: bytesToHex(key.sign(payload(policyDigest(policy), policy.version))),
  };
}

export type VersionCheck =
  | { ok: true; policy: PolicyDocument; digest: string; signers: string[]; activeFromMs: number }
  | { ok: false; reason: string };

export function validateGovernanceConfig(config: GovernanceConfig): void {
  const ids = new Set(config.admins.map((a) => a.id));
  if (ids.size !== config.admins.length)
    throw new PolicyError('invalid-signed-version', 'governance.admins', 'duplicate admin id');
  for (const [i, admin] of config.admins.entries()) {
    if (!/^[0-9a-f]{64}$/.test(admin.publicKey)) {
      throw new PolicyError(
        'invalid-signed-version',
        `governance.admins[${i}].publicKey`,
        'must be 32 bytes hex',
      );
    }
    hexToBytes(admin.publicKey);
  }
  if (
    !Number.isSafeInteger(config.threshold) ||
    config.threshold < 1 ||
    config.threshold > config.admins.length
  ) {
    throw new PolicyError(
      'invalid-signed-version',
      'governance.threshold',
      'must be in [1, number of admins]',
    );
  }
  if (!Number.isSafeInteger(config.timelockMs) || config.timelockMs < 0) {
    throw new PolicyError(
      'invalid-signed-version',
      'governance.timelockMs',
      'must be a non-negative integer',
    );
  }
}

/** Validates the document and counts distinct admins whose signature verifies over its digest. */
export function verifyPolicyVersion(config: GovernanceConfig, signed: SignedPolicyVersion): VersionCheck {
  validateGovernanceConfig(config);
  let policy: PolicyDocument;
  try {
    policy = parsePolicy(signed.document);
  } catch (error) {
    return { ok: false, reason: error instanceof PolicyError ? error.message : 'document does not parse' };
  }
  if (!Number.isSafeInteger(signed.receivedAtMs))
    return { ok: false, reason: 'receivedAtMs must be an integer' };
  const digest = policyDigest(policy);
  const message = payload(digest, policy.version);
  const signers = new Set<string>();
  for (const signature of Array.isArray(signed.signatures) ? signed.signatures : []) {
    const admin = config.admins.find((a) => a.id === signature?.adminId);
    if (admin === undefined || typeof signature.signature !== 'string') continue;
    if (verifyEd25519(signature.signature, message, admin.publicKey)) signers.add(admin.id);
  }
  if (signers.size < config.threshold) {
    return { ok: false, reason: `${signers.size} valid admin signatures, ${config.threshold} required` };
  }
  const activeFromMs = Math.max(policy.activatesAtMs, signed.receivedAtMs + config.timelockMs);
  return { ok: true, policy, digest, signers: [...signers].sort(), activeFromMs };
}

export interface ActivePolicy {
  policy: PolicyDocument;
  digest: string;
  activeFromMs: number;
}

/**
 * The version in force at `timeMs`: among versions with enough valid signatures whose timelock has
 * passed, the highest version number. Two different documents claiming the same version number make
 * that number ambiguous, and neither is used.
 */
export function activePolicyAt(
  config: GovernanceConfig,
  versions: readonly SignedPolicyVersion[],
  timeMs: number,
): ActivePolicy | undefined {
  return activeAmong(
    versions.map((signed) => verifyPolicyVersion(config, signed)),
    timeMs,
  );
}

/**
 * `activePolicyAt` over versions already checked with `verifyPolicyVersion` (under the same
 * configuration): a node checks its stored versions once and asks for many submission times.
 */
export function activeAmong(checks: readonly VersionCheck[], timeMs: number): ActivePolicy | undefined {
  const byVersion = new Map<number, ActivePolicy | 'ambiguous'>();
  for (const check of checks) {
    if (!check.ok) continue;
    const existing = byVersion.get(check.policy.version);
    if (existing === 'ambiguous') continue;
    if (existing !== undefined && existing.digest !== check.digest) {
      byVersion.set(check.policy.version, 'ambiguous');
      continue;
    }
    if (existing === undefined || check.activeFromMs < existing.activeFromMs) {
      byVersion.set(check.policy.version, {
        policy: check.policy,
        digest: check.digest,
        activeFromMs: check.activeFromMs,
      });
    }
  }
  let best: ActivePolicy | undefined;
  let ambiguousAbove = -1;
  for (const [version, entry] of byVersion) {
    if (entry === 'ambiguous') {
      ambiguousAbove = Math.max(ambiguousAbove, version);
      continue;
    }
    if (entry.activeFromMs > timeMs) continue;
    if (best === undefined || version > best.policy.version) best = entry;
  }
  // A conflicting, newer version number means the node cannot tell which policy is in force.
  if (best !== undefined && ambiguousAbove > best.policy.version) return undefined;
  return best;
}

/** Evaluates under the version active when the request was submitted; none → deny. */
export function evaluateUnderGovernance(
  config: GovernanceConfig,
  versions: readonly SignedPolicyVersion[],
  request: PolicyRequest,
  context: EvaluationContext,
): Decision {
  const active = activePolicyAt(config, versions, request.submittedAtMs);
  if (active === undefined) {
    return {
      outcome: 'deny',
      policyVersion: 0,
      policyDigest: '',
      requestDigest: requestDigest(request),
      evaluatedAtMs: context.nowMs,
      reasons: [
        {
          code: 'no-active-policy',
          detail: `no signed policy version was in force at ${request.submittedAtMs}`,
        },
      ],
      trace: { rulesMatched: [], limits: [], delays: [] },
    };
  }
  return evaluate(active.policy, request, context);
}
