// Approvals: an approver's Ed25519 signature over the exact request digest (which commits to the
// unsigned transaction bytes and the decoded intent), with its own validity interval.
import { bytesToHex } from '@noble/hashes/utils.js';
import { taggedMessage } from './canonical.ts';
import type { PolicyDocument } from './document.ts';
import { type SigningKey, VerifiedMemo, verifyEd25519 } from './keys.ts';
import { policyIndex } from './lookup.ts';

export const APPROVAL_DOMAIN = 'coffer/approval/1';

export interface UnsignedApproval {
  approverId: string;
  /** Hex request digest (`requestDigest`). */
  requestDigest: string;
  approvedAtMs: number;
  expiresAtMs: number;
}

export interface Approval extends UnsignedApproval {
  signature: string;
}

export type ApprovalRejection =
  | 'malformed'
  | 'different-digest'
  | 'unknown-approver'
  | 'bad-signature'
  | 'initiator'
  | 'expired'
  | 'not-yet-valid'
  | 'lifetime-too-long';

export type ApprovalCheck =
  | { ok: true; approverId: string }
  | { ok: false; reason: ApprovalRejection; detail: string };

function payload(approval: UnsignedApproval): Uint8Array {
  return taggedMessage(APPROVAL_DOMAIN, {
    approverId: approval.approverId,
    requestDigest: approval.requestDigest,
    approvedAtMs: approval.approvedAtMs,
    expiresAtMs: approval.expiresAtMs,
  });
}

export function signApproval(approval: UnsignedApproval, key: SigningKey): Approval {
  return { ...approval, signature: bytesToHex(key.sign(payload(approval))) };
}

/** The approver's public key (the first group listing the id; the validator makes one id one key). */
export function approverKey(policy: PolicyDocument, approverId: string): string | undefined {
  return policyIndex(policy).approverKeys.get(approverId);
}

export interface ApprovalContext {
  requestDigest: string;
  initiator: string;
  nowMs: number;
}

type SignedApproval = UnsignedApproval & { publicKey: string };

const verifiedApprovals = new VerifiedMemo<SignedApproval>(
  (a, b) =>
    a.publicKey === b.publicKey &&
    a.approverId === b.approverId &&
    a.requestDigest === b.requestDigest &&
    a.approvedAtMs === b.approvedAtMs &&
    a.expiresAtMs === b.expiresAtMs,
);

/** The Ed25519 check of an approval, remembered with every field it signs and the key it verified under. */
function approvalSignatureValid(approval: Approval, publicKey: string): boolean {
  const signed: SignedApproval = {
    approverId: approval.approverId,
    requestDigest: approval.requestDigest,
    approvedAtMs: approval.approvedAtMs,
    expiresAtMs: approval.expiresAtMs,
    publicKey,
  };
  if (verifiedApprovals.find(approval.signature, signed) !== undefined) return true;
  if (!verifyEd25519(approval.signature, payload(signed), publicKey)) return false;
  verifiedApprovals.add(approval.signature, signed);
  return true;
}

/** Checks one approval for one request; every refusal carries its reason. */
export function verifyApproval(
  policy: PolicyDocument,
  approval: Approval,
  context: ApprovalContext,
): ApprovalCheck {
  const reject = (reason: ApprovalRejection, detail: string): ApprovalCheck => ({
    ok: false,
    reason,
    detail,
  });
  if (
    typeof approval !== 'object' ||
    approval === null ||
    typeof approval.approverId !== 'string' ||
    typeof approval.requestDigest !== 'string' ||
    typeof approval.signature !== 'string' ||
    !Number.isSafeInteger(approval.approvedAtMs) ||
    !Number.isSafeInteger(approval.expiresAtMs)
  ) {
    return reject('malformed', 'approval fields have the wrong types');
  }
  if (approval.requestDigest !== context.requestDigest) {
    return reject('different-digest', `approval is for request ${approval.requestDigest.slice(0, 16)}…`);
  }
  const publicKey = approverKey(policy, approval.approverId);
  if (publicKey === undefined) return reject('unknown-approver', `${approval.approverId} is not an approver`);
  if (!approvalSignatureValid(approval, publicKey)) {
    return reject('bad-signature', `signature does not verify under ${approval.approverId}'s key`);
  }
  if (approval.approverId === context.initiator) {
    return reject('initiator', `${approval.approverId} initiated the request and cannot approve it`);
  }
  if (approval.approvedAtMs > context.nowMs)
    return reject('not-yet-valid', 'approval is dated in the future');
  if (approval.expiresAtMs - approval.approvedAtMs > policy.approvals.maxTtlMs) {
    return reject('lifetime-too-long', `approval lifetime exceeds ${policy.approvals.maxTtlMs} ms`);
  }
  if (context.nowMs >= approval.expiresAtMs)
    return reject('expired', `approval expired at ${approval.expiresAtMs}`);
  return { ok: true, approverId: approval.approverId };
}

// ---- vetoes ----------------------------------------------------------------------------------------

export const VETO_DOMAIN = 'coffer/veto/1';

/** Any approver may cancel a delayed request during its veto window by signing its digest. */
export interface Veto {
  approverId: string;
  requestDigest: string;
  vetoedAtMs: number;
  signature: string;
}

function vetoPayload(veto: Omit<Veto, 'signature'>): Uint8Array {
  return taggedMessage(VETO_DOMAIN, {
    approverId: veto.approverId,
    requestDigest: veto.requestDigest,
    vetoedAtMs: veto.vetoedAtMs,
  });
}

export function signVeto(veto: Omit<Veto, 'signature'>, key: SigningKey): Veto {
  return { ...veto, signature: bytesToHex(key.sign(vetoPayload(veto))) };
}

/** A veto counts when a known approver signed this request's digest; its time only needs to be an integer. */
export function verifyVeto(policy: PolicyDocument, veto: Veto, requestDigest: string): boolean {
  if (typeof veto !== 'object' || veto === null || !Number.isSafeInteger(veto.vetoedAtMs)) return false;
  if (veto.requestDigest !== requestDigest || typeof veto.approverId !== 'string') return false;
  const publicKey = approverKey(policy, veto.approverId);
  return publicKey !== undefined && verifyEd25519(String(veto.signature), vetoPayload(veto), publicKey);
}
