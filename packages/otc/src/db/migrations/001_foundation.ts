// Migration 1: every table of the buy desk. Money columns are `numeric(78,0)` (integers of base or minor
// units, never floats); every mutable row of the order workflow carries a `version` for the conditional
// updates that make each transition happen once.
import type { Migration } from './index.ts';

export const foundation: Migration = {
  version: 1,
  name: 'buy desk foundation',
  sql: `
-- Customers of the desk, as the desk's backend registers them (Coffer runs no customer login).
CREATE TABLE otc_clients (
  id             text PRIMARY KEY,
  kyc_tier       text NOT NULL,
  country        text NOT NULL,                 -- ISO 3166-1 alpha-2
  status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  version        integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Quotes: indicative ones are stored for the record only; firm ones are consumed exactly once.
CREATE TABLE otc_quotes (
  id               text PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('indicative', 'firm')),
  client_id        text NOT NULL REFERENCES otc_clients(id),
  side             text NOT NULL CHECK (side IN ('buy', 'sell')),
  asset            text NOT NULL,                -- asset id from configuration (ETH, USDC, …)
  amount           numeric(78,0) NOT NULL CHECK (amount > 0),        -- crypto base units
  fiat_currency    text NOT NULL,
  price_minor      numeric(78,0) NOT NULL CHECK (price_minor > 0),   -- fiat minor units per whole crypto unit
  fiat_amount      numeric(78,0) NOT NULL CHECK (fiat_amount > 0),   -- fiat minor units for the whole amount
  mid_price_minor  numeric(78,0) NOT NULL,
  spread_bps       integer NOT NULL,
  price_source     text NOT NULL,
  price_at         timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  consumed_at      timestamptz,
  consumed_by      text                          -- order id
);
CREATE INDEX otc_quotes_client ON otc_quotes (client_id, created_at);

-- Orders. status is the workflow; exception is the separate payment-exception axis.
CREATE TABLE otc_orders (
  id                      text PRIMARY KEY,
  side                    text NOT NULL CHECK (side IN ('buy', 'sell')),
  client_id               text NOT NULL REFERENCES otc_clients(id),
  quote_id                text NOT NULL UNIQUE REFERENCES otc_quotes(id),
  asset                   text NOT NULL,
  chain                   text NOT NULL,
  amount                  numeric(78,0) NOT NULL CHECK (amount > 0),
  fiat_currency           text NOT NULL,
  fiat_amount             numeric(78,0) NOT NULL CHECK (fiat_amount > 0),
  price_minor             numeric(78,0) NOT NULL,
  destination             text NOT NULL,         -- the customer's address (buy)
  status                  text NOT NULL,
  exception               text,                  -- under_payment | over_payment | late_payment | claimed_not_received
  exception_detail        jsonb,
  payment_reference       text NOT NULL UNIQUE,
  payment_deadline        timestamptz NOT NULL,
  desk_approval_required  boolean NOT NULL DEFAULT false,
  release_idempotency_key text UNIQUE,           -- otc:<order id>:release
  release_request_id      text,                  -- the signer node's request id
  release_status          text,                  -- the signer node's request status, as last seen
  tx_hash                 text,
  confirmations           integer NOT NULL DEFAULT 0,
  failure_reason          text,
  version                 integer NOT NULL DEFAULT 0,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otc_orders_status ON otc_orders (status, updated_at);
CREATE INDEX otc_orders_client ON otc_orders (client_id, created_at);

-- Every transition of every order, in order: who, which event, from which status to which.
CREATE TABLE otc_order_events (
  id          bigserial PRIMARY KEY,
  order_id    text NOT NULL REFERENCES otc_orders(id),
  event       text NOT NULL,
  from_status text NOT NULL,
  to_status   text NOT NULL,
  actor       text NOT NULL,
  role        text NOT NULL,
  detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otc_order_events_order ON otc_order_events (order_id, id);

-- Fiat evidence: a bank reference is unique per desk (a reused reference is refused).
CREATE TABLE otc_fiat_evidence (
  id                   text PRIMARY KEY,
  order_id             text REFERENCES otc_orders(id),
  source               text NOT NULL CHECK (source IN ('manual', 'webhook')),
  bank_reference       text NOT NULL UNIQUE,
  payment_reference    text NOT NULL,
  amount_minor         numeric(78,0) NOT NULL CHECK (amount_minor > 0),
  currency             text NOT NULL,
  transferred_at       timestamptz NOT NULL,
  source_account_last4 text,
  recorded_by          text NOT NULL,
  recorded_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otc_fiat_evidence_order ON otc_fiat_evidence (order_id);

-- Desk approvals (the desk's own four-eyes control; the nodes' policy approvals are separate).
CREATE TABLE otc_desk_approvals (
  order_id    text NOT NULL REFERENCES otc_orders(id),
  approver    text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, approver)
);

-- Double-entry ledger (TigerBeetle's model). Balances per account; an account flagged no_overdraft can
-- never have its posted credits below its posted and pending debits — enforced by the database itself.
CREATE TABLE otc_accounts (
  id              text PRIMARY KEY,              -- e.g. house:hot:ETH, client:c-1:USD
  asset           text NOT NULL,                 -- crypto asset id or fiat currency code
  owner_kind      text NOT NULL CHECK (owner_kind IN ('client', 'house', 'external')),
  owner_id        text,
  no_overdraft    boolean NOT NULL DEFAULT false,
  debits_posted   numeric(78,0) NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
  credits_posted  numeric(78,0) NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
  debits_pending  numeric(78,0) NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
  credits_pending numeric(78,0) NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT otc_accounts_no_overdraft
    CHECK (NOT no_overdraft OR credits_posted >= debits_posted + debits_pending)
);

-- Ledger transfers. A pending transfer (a hold) is resolved exactly once by a post or a void transfer
-- naming it (unique pending_id).
CREATE TABLE otc_transfers (
  id              text PRIMARY KEY,
  debit_account   text NOT NULL REFERENCES otc_accounts(id),
  credit_account  text NOT NULL REFERENCES otc_accounts(id),
  asset           text NOT NULL,
  amount          numeric(78,0) NOT NULL CHECK (amount > 0),
  kind            text NOT NULL CHECK (kind IN ('posted', 'pending', 'post_pending', 'void_pending')),
  pending_id      text UNIQUE REFERENCES otc_transfers(id),
  order_id        text,
  code            text NOT NULL,                 -- what the transfer is for (reservation, fiat_received, …)
  detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (debit_account <> credit_account),
  CHECK ((kind IN ('post_pending', 'void_pending')) = (pending_id IS NOT NULL))
);
CREATE INDEX otc_transfers_order ON otc_transfers (order_id);

-- Outbox: one row per lifecycle event, written in the transaction of the change it reports; a worker
-- delivers it as a signed webhook. The id is the stable event id.
CREATE TABLE otc_outbox (
  id              text PRIMARY KEY,
  type            text NOT NULL,
  order_id        text,
  payload         jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  attempts        integer NOT NULL DEFAULT 0,
  delivered_at    timestamptz,
  failed_at       timestamptz,                   -- gave up after the retry schedule
  last_error      text
);
CREATE INDEX otc_outbox_due ON otc_outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE otc_webhook_deliveries (
  id          bigserial PRIMARY KEY,
  event_id    text NOT NULL REFERENCES otc_outbox(id),
  attempt     integer NOT NULL,
  status_code integer,
  error       text,
  duration_ms integer NOT NULL,
  at          timestamptz NOT NULL DEFAULT now()
);

-- Inbound fiat-rail webhooks by webhook-id: a replay is refused.
CREATE TABLE otc_inbound_webhooks (
  webhook_id  text PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  payload     jsonb NOT NULL,
  outcome     text NOT NULL
);

-- Idempotency-Key of every POST: same key, same caller and same body → the stored answer; another body → 409.
CREATE TABLE otc_idempotency (
  actor       text NOT NULL,
  key         text NOT NULL,
  route       text NOT NULL,
  body_sha256 text NOT NULL,
  status      integer,                           -- null while the first request is in progress
  response    jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor, key)
);

-- Tamper-evident audit log: each entry hashes the previous one.
CREATE TABLE otc_audit (
  seq        bigint PRIMARY KEY,
  at         timestamptz NOT NULL,
  actor      text NOT NULL,
  role       text NOT NULL,
  action     text NOT NULL,
  subject    text,
  detail     jsonb NOT NULL,
  prev_hash  text NOT NULL,
  hash       text NOT NULL
);

-- Emergency freezes: scope 'desk', 'asset:<id>' or 'client:<id>'. A row present = frozen.
CREATE TABLE otc_freezes (
  scope      text PRIMARY KEY,
  reason     text NOT NULL,
  frozen_by  text NOT NULL,
  frozen_at  timestamptz NOT NULL DEFAULT now()
);

-- Compliance decisions with their reasons (KYC tier, limits, screening, jurisdiction).
CREATE TABLE otc_compliance_decisions (
  id         bigserial PRIMARY KEY,
  client_id  text NOT NULL,
  quote_id   text,
  order_id   text,
  check_name text NOT NULL,
  outcome    text NOT NULL CHECK (outcome IN ('pass', 'fail', 'review')),
  reason     text NOT NULL,
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otc_compliance_client ON otc_compliance_decisions (client_id, at);

-- Shared rate-limit counters (fixed windows), so several instances enforce one limit.
CREATE TABLE otc_rate_limits (
  bucket       text NOT NULL,
  window_start timestamptz NOT NULL,
  count        integer NOT NULL,
  PRIMARY KEY (bucket, window_start)
);
`,
};
