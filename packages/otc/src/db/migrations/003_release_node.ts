// Migration 3: the signer node an order's release is pinned to, recorded before the first create so
// that no later attempt (after a crash, or from another service instance) creates it on another node.
import type { Migration } from './index.ts';

export const releaseNode: Migration = {
  version: 3,
  name: 'release node pinned on the order',
  sql: 'ALTER TABLE otc_orders ADD COLUMN release_node text;',
};
