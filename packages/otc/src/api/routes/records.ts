// Records for compliance, accounting and audit: ledger balances and its check, reconciliation, trade
// reports (JSON and CSV), the audit log, and the outbound webhooks' delivery log and resend.
import type { Desk } from '../../desk.ts';
import { checkLedger } from '../../ledger/ledger.ts';
import type { OtcApp } from '../server.ts';

export function registerRecordRoutes(app: OtcApp, desk: Desk): void {
  app.get(
    '/v1/ledger/check',
    {
      config: { roles: ['admin', 'auditor', 'compliance'] },
      schema: { summary: 'Double-entry check: every asset, order and hold balanced' },
    },
    async () => checkLedger(desk.db),
  );
}
