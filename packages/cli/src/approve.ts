// Approving and vetoing a request: the one code path `coffer approve` / `coffer veto` and the demo use.
// Fetch the request, check it locally (request-check.ts), show the decoded intent, ask, sign the digest
// computed here (never the node's), post.

import { intentToWire, type TransferIntent } from '@coffer/chains/intent';
import type { CofferClient, RequestView } from '@coffer/client';
import { type Approval, signApproval, signVeto, type Veto } from '@coffer/policy/approvals';
import type { ApproverKey } from './approver-key.ts';
import { NotConfirmed, NotWaiting } from './errors.ts';
import { checkRequestLocally, describeIntent } from './request-check.ts';

export type Confirm = (summary: string[]) => Promise<boolean>;

export { NotConfirmed, NotWaiting };

/** Statuses in which approvals and vetoes still count (signer-node lifecycle). */
const WAITING = ['submitted', 'pending-approvals', 'delayed'];

function requireWaiting(view: RequestView, action: string): void {
  if (!WAITING.includes(view.status))
    throw new NotWaiting(`request ${view.id} is ${view.status}; there is nothing to ${action}`);
}

export type ApproveResult = {
  request: string;
  approverId: string;
  requestDigest: string;
  intent: ReturnType<typeof intentToWire> | null;
  approvedAtMs: number;
  expiresAtMs: number;
  /** The node's view after it accepted the approval. */
  status: string;
  approvals: string[];
};

/** What the approver is shown before signing: the decoded intent and whose request it is. */
export function summary(view: RequestView, intent: TransferIntent | null, action: string): string[] {
  const lines = [
    `${action} request ${view.id} (${view.kind}) by operator ${view.operator}, wallet ${view.wallet}`,
  ];
  if (intent) lines.push(...describeIntent(intent).map((l) => `  ${l}`));
  else lines.push(`  raw digest ${view.digest}`);
  if (view.decision) {
    lines.push(`  policy   ${view.decision.outcome} (version ${view.decision.policyVersion})`);
    for (const r of view.decision.reasons) lines.push(`           ${r.code}: ${r.detail}`);
  }
  lines.push('  (decoded and digest recomputed on this machine; they match the node)');
  return lines;
}

export async function approveRequest(opts: {
  client: CofferClient;
  requestId: string;
  key: ApproverKey;
  ttlMs: number;
  /** Omitted: no prompt (the caller confirmed otherwise, e.g. --yes). */
  confirm?: Confirm;
  nowMs?: () => number;
}): Promise<ApproveResult> {
  const view = await opts.client.request(opts.requestId);
  requireWaiting(view, 'approve');
  const checked = checkRequestLocally(view);
  if (opts.confirm && !(await opts.confirm(summary(view, checked.intent, 'approve'))))
    throw new NotConfirmed('approval not given');
  const approvedAtMs = (opts.nowMs ?? Date.now)();
  const approval: Approval = signApproval(
    {
      approverId: opts.key.id,
      requestDigest: checked.requestDigest,
      approvedAtMs,
      expiresAtMs: approvedAtMs + opts.ttlMs,
    },
    opts.key.key,
  );
  const after = await opts.client.approve(view.id, approval);
  return {
    request: view.id,
    approverId: opts.key.id,
    requestDigest: checked.requestDigest,
    intent: checked.intent ? intentToWire(checked.intent) : null,
    approvedAtMs,
    expiresAtMs: approval.expiresAtMs,
    status: after.status,
    approvals: after.approvals.map((a) => a.approverId),
  };
}

export async function vetoRequest(opts: {
  client: CofferClient;
  requestId: string;
  key: ApproverKey;
  confirm?: Confirm;
  nowMs?: () => number;
}): Promise<{ request: string; approverId: string; requestDigest: string; status: string }> {
  const view = await opts.client.request(opts.requestId);
  requireWaiting(view, 'veto');
  const checked = checkRequestLocally(view);
  if (opts.confirm && !(await opts.confirm(summary(view, checked.intent, 'veto'))))
    throw new NotConfirmed('veto not given');
  const veto: Veto = signVeto(
    { approverId: opts.key.id, requestDigest: checked.requestDigest, vetoedAtMs: (opts.nowMs ?? Date.now)() },
    opts.key.key,
  );
  const after = await opts.client.veto(view.id, veto);
  return {
    request: view.id,
    approverId: opts.key.id,
    requestDigest: checked.requestDigest,
    status: after.status,
  };
}
