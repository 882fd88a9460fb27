// The request store on a real SQLite file: lifecycle transitions are compare-and-set and follow the
// lifecycle table (no path skips the policy decision), each one timed and audited; idempotency keys are
// unique per operator; EVM nonces stay reserved while a request may still be mined.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.ts';
import { canTransition, STATUSES, statusForOutcome, TERMINAL } from '../src/requests/lifecycle.ts';
import { type NewRequest, RequestConflictError, RequestStore } from '../src/requests/store.ts';
import { type NodeDatabase, openDatabase } from '../src/storage/db.ts';

let dir: string;
let db: NodeDatabase;
let audit: AuditLog;
let store: RequestStore;
let clock = Date.UTC(2026, 10, 21, 9, 0, 0);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-requests-'));
  db = openDatabase(join(dir, 'node.sqlite'));
  audit = new AuditLog(db);
  store = new RequestStore(db, audit, () => clock);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function request(overrides: Partial<NewRequest> = {}): NewRequest {
  return {
    id: 'req-000000000000000000000001',
    kind: 'transfer',
    role: 'coordinator',
    origin: 'node-a',
    operator: 'otc',
    idempotencyKey: 'order-1',
    fingerprint: 'f'.repeat(64),
    wallet: 'hot-eth',
    keyId: 'a'.repeat(64),
    path: 'm',
    requestDigest: 'd'.repeat(64),
    signingDigest: 'e'.repeat(64),
    bundle: '{}',
    reference: null,
    evmFrom: '0x3000000000000000000000000000000000000003',
    evmNonce: 7,
    firstSeenMs: clock,
    ...overrides,
  };
}

function auditKinds(): string[] {
  return (db.prepare('SELECT kind FROM audit_log ORDER BY seq').all() as { kind: string }[]).map(
    (r) => r.kind,
  );
}

describe('request lifecycle table', () => {
  it('terminal statuses lead nowhere and no waiting status reaches signing without approval', () => {
    for (const from of TERMINAL) for (const to of STATUSES) expect(canTransition(from, to)).toBe(false);
    for (const from of ['submitted', 'pending-approvals', 'delayed'] as const) {
      expect(canTransition(from, 'signing')).toBe(false);
      expect(canTransition(from, 'signed')).toBe(false);
    }
    expect(canTransition('approved', 'signing')).toBe(true);
    expect(canTransition('signed', 'approved')).toBe(false);
    expect(statusForOutcome('allow')).toBe('approved');
    expect(statusForOutcome('needs-approvals')).toBe('pending-approvals');
    expect(statusForOutcome('delayed')).toBe('delayed');
    expect(statusForOutcome('deny')).toBe('denied');
  });
});

describe('request store', () => {
  it('stores a request as submitted, records every transition with its time and audits it', () => {
    store.insert(request(), 'api:otc');
    clock += 1_000;
    store.transition(request().id, 'submitted', 'pending-approvals', 'node-a');
    clock += 1_000;
    store.transition(request().id, 'pending-approvals', 'approved', 'node-a');
    const got = store.get(request().id)!;
    expect(got.status).toBe('approved');
    expect(got.history.map((h) => h.status)).toEqual(['submitted', 'pending-approvals', 'approved']);
    expect(got.history.map((h) => Date.parse(h.at) - Date.UTC(2026, 10, 21, 9, 0, 0))).toEqual([
      0, 1_000, 2_000,
    ]);
    expect(auditKinds()).toEqual(['request.submitted', 'request.pending-approvals', 'request.approved']);
  });

  it('refuses a transition the lifecycle does not allow (pending approvals straight to signing)', () => {
    store.insert(request(), 'api:otc');
    store.transition(request().id, 'submitted', 'pending-approvals', 'node-a');
    expect(() => store.transition(request().id, 'pending-approvals', 'signing', 'node-a')).toThrow(
      RequestConflictError,
    );
    expect(store.get(request().id)!.status).toBe('pending-approvals');
  });

  it('is compare-and-set: a second path that read the old status changes nothing', () => {
    store.insert(request(), 'api:otc');
    store.transition(request().id, 'submitted', 'approved', 'node-a');
    expect(store.transition(request().id, 'submitted', 'denied', 'node-a')).toBeUndefined();
    expect(store.transition(request().id, 'approved', 'signing', 'node-a')?.status).toBe('signing');
    expect(store.transition(request().id, 'approved', 'signing', 'node-a')).toBeUndefined();
    expect(store.get(request().id)!.history).toHaveLength(3);
  });

  it('keeps one request per operator and idempotency key', () => {
    store.insert(request(), 'api:otc');
    expect(() => store.insert(request({ id: 'req-000000000000000000000002' }), 'api:otc')).toThrow(/UNIQUE/);
    store.insert(request({ id: 'req-000000000000000000000003', operator: 'treasury' }), 'api:treasury');
    expect(store.byIdempotencyKey('otc', 'order-1')?.id).toBe(request().id);
    expect(store.byIdempotencyKey('treasury', 'order-1')?.id).toBe('req-000000000000000000000003');
  });

  it('reserves EVM nonces of live requests only', () => {
    store.insert(request(), 'api:otc');
    store.insert(request({ id: 'req-000000000000000000000002', idempotencyKey: 'o2', evmNonce: 8 }), 'x');
    expect(store.highestLiveNonce('0x3000000000000000000000000000000000000003')).toBe(8);
    store.transition('req-000000000000000000000002', 'submitted', 'denied', 'node-a');
    expect(store.highestLiveNonce('0x3000000000000000000000000000000000000003')).toBe(7);
    expect(store.highestLiveNonce('0x4000000000000000000000000000000000000004')).toBeUndefined();
  });

  it('hands the scheduler due requests only, and forgets the schedule of a finished request', () => {
    store.insert(request(), 'api:otc');
    store.transition(request().id, 'submitted', 'delayed', 'node-a', { nextActionMs: clock + 5_000 });
    expect(store.due(clock, 10)).toHaveLength(0);
    expect(store.due(clock + 5_000, 10).map((r) => r.id)).toEqual([request().id]);
    store.transition(request().id, 'delayed', 'cancelled', 'api:otc');
    expect(store.due(clock + 5_000, 10)).toHaveLength(0);
  });
});
