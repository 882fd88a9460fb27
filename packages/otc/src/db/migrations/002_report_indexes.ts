// Migration 2: indexes for reconciliation and trade reports, which select by time window, transfer code,
// evidence reference and transaction hash; without them each daily report scans the whole ledger.
import type { Migration } from './index.ts';

export const reportIndexes: Migration = {
  version: 2,
  name: 'report indexes',
  sql: `
CREATE INDEX otc_transfers_code_time ON otc_transfers (code, created_at);
CREATE INDEX otc_transfers_evidence ON otc_transfers ((detail->>'evidenceId')) WHERE code = 'fiat_received';
CREATE INDEX otc_fiat_evidence_recorded ON otc_fiat_evidence (recorded_at);
CREATE INDEX otc_orders_tx_hash ON otc_orders (tx_hash) WHERE tx_hash IS NOT NULL;
CREATE INDEX otc_orders_created ON otc_orders (created_at);
`,
};
