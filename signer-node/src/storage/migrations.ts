// Schema of a signer node's SQLite database, as ordered migrations. A migration is never edited
// once released; changes are new migrations. No table ever holds a key share unsealed: shares are
// stored only as sealed blobs produced by @coffer/hsm.

export type Migration = { version: number; name: string; sql: string };

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE wallets (
        key_id        TEXT PRIMARY KEY,            -- hex, the key-generation session id
        scheme        TEXT NOT NULL,
        threshold     INTEGER NOT NULL,
        parties       INTEGER NOT NULL,
        public_key    TEXT NOT NULL,               -- hex, chain format
        chain_code    TEXT NOT NULL,               -- hex, empty for ed25519
        label         TEXT,
        locked_reason TEXT,                        -- set when a final signature check failed
        created_at    TEXT NOT NULL
      ) STRICT;

      CREATE TABLE sealed_shares (
        key_id     TEXT NOT NULL REFERENCES wallets(key_id),
        generation INTEGER NOT NULL,               -- increases with every refresh
        sealed     BLOB NOT NULL,                  -- envelope-encrypted KeyShare bytes
        created_at TEXT NOT NULL,
        PRIMARY KEY (key_id, generation)
      ) STRICT;

      CREATE TABLE signing_requests (
        id              TEXT PRIMARY KEY,
        idempotency_key TEXT UNIQUE,
        key_id          TEXT NOT NULL REFERENCES wallets(key_id),
        path            TEXT NOT NULL,
        digest          TEXT NOT NULL,             -- hex of what is signed
        status          TEXT NOT NULL,
        signature       TEXT,
        error           TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      ) STRICT;

      CREATE TABLE sessions (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,                 -- keygen | sign | presign | refresh
        request_id  TEXT REFERENCES signing_requests(id),
        participants TEXT NOT NULL,                -- JSON array of node ids
        status      TEXT NOT NULL,                 -- running | done | aborted | timed-out
        round       INTEGER NOT NULL DEFAULT 0,
        reason      TEXT,
        culprits    TEXT,                          -- JSON array
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      ) STRICT;

      -- Single-use values: a row is written in the same transaction that releases the message
      -- depending on it, so a crash can never lead to reuse.
      CREATE TABLE consumed_nonces (
        id          TEXT PRIMARY KEY,              -- nonce / presignature id
        kind        TEXT NOT NULL,
        session_id  TEXT,
        consumed_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE receipts (
        id          TEXT PRIMARY KEY,
        request_id  TEXT NOT NULL,
        body        TEXT NOT NULL,                 -- canonical JSON
        signatures  TEXT NOT NULL,                 -- JSON: node id -> signature hex
        received_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE peer_bans (
        peer_id    TEXT PRIMARY KEY,
        reason     TEXT NOT NULL,
        banned_at  TEXT NOT NULL,
        cleared_at TEXT
      ) STRICT;

      CREATE TABLE audit_log (
        seq       INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        kind      TEXT NOT NULL,
        actor     TEXT NOT NULL,
        subject   TEXT NOT NULL,
        details   TEXT NOT NULL,                   -- canonical JSON
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
      ) STRICT;

      CREATE TABLE audit_checkpoints (
        seq        INTEGER PRIMARY KEY,            -- audit entry the checkpoint seals
        hash       TEXT NOT NULL,
        node_key   TEXT NOT NULL,                  -- hex Ed25519 public key
        signature  TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'signer-node service: wallet membership, session scheme and coordinator, request signers',
    sql: `
      ALTER TABLE wallets ADD COLUMN participants TEXT NOT NULL DEFAULT '[]'; -- JSON node ids, party index = position + 1
      ALTER TABLE wallets ADD COLUMN share_index INTEGER NOT NULL DEFAULT 0;  -- this node's party index
      ALTER TABLE sessions ADD COLUMN scheme TEXT;
      ALTER TABLE sessions ADD COLUMN key_id TEXT;
      ALTER TABLE sessions ADD COLUMN coordinator TEXT;
      ALTER TABLE signing_requests ADD COLUMN signers TEXT;                    -- JSON node ids
      CREATE INDEX sessions_status ON sessions(status);
    `,
  },
  {
    version: 3,
    name: 'presignature pool records, discarded pairwise setups, presigned sessions',
    sql: `
      -- Metadata of DKLs23 presignatures, never their secrets: those live only in the node's memory,
      -- so none survives a restart or a backup restore. A row turns 'consumed' in the same
      -- transaction that releases the online share depending on it, and never turns back.
      CREATE TABLE presignatures (
        id          TEXT PRIMARY KEY,              -- hex presignature id, identical at every member
        session_id  TEXT NOT NULL,                 -- the presigning session
        key_id      TEXT NOT NULL REFERENCES wallets(key_id),
        path        TEXT NOT NULL,                 -- derivation path it is bound to
        signers     TEXT NOT NULL,                 -- JSON node ids of the signing set it is bound to
        coordinator TEXT NOT NULL,                 -- the only node that may name it in a signing
        status      TEXT NOT NULL,                 -- ready | consumed | discarded
        consumed_by TEXT,                          -- signing session that released the online share
        reason      TEXT,                          -- why it was discarded
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX presignatures_pool ON presignatures(key_id, path, status);

      -- Pairwise OT setups discarded after a failed DKLs23 check with a peer (DESIGN §3 item 5). The
      -- sealed share is re-sealed with that setup wiped; this row lets the node refuse a session with
      -- the peer before it unseals anything. Clearing the peer's ban does not remove it: only a
      -- refresh (new shares and setups) does.
      CREATE TABLE unusable_setups (
        key_id    TEXT NOT NULL REFERENCES wallets(key_id),
        peer_id   TEXT NOT NULL,
        reason    TEXT NOT NULL,
        marked_at TEXT NOT NULL,
        PRIMARY KEY (key_id, peer_id)
      ) STRICT;

      ALTER TABLE sessions ADD COLUMN presignature_id TEXT;         -- set for a presigned signing
    `,
  },
  {
    version: 5,
    name: 'transfer requests: lifecycle rows, bundles, decisions and transitions',
    sql: `
      -- One row per transfer or raw-digest request this node coordinates or has been told about by the
      -- coordinating peer. signing_requests stays the record of the signature itself (one row per
      -- request that reached signing, same id): sessions.request_id references it.
      CREATE TABLE requests (
        id              TEXT PRIMARY KEY,              -- req-<24 hex>
        kind            TEXT NOT NULL,                 -- transfer | raw-digest
        role            TEXT NOT NULL,                 -- coordinator | peer
        origin          TEXT NOT NULL,                 -- node id of the coordinator
        operator        TEXT NOT NULL,                 -- initiator (policy operator id)
        idempotency_key TEXT NOT NULL,                 -- the PolicyRequest requestId
        fingerprint     TEXT NOT NULL,                 -- hex SHA-256 of what the client asked for
        wallet          TEXT NOT NULL,                 -- policy wallet id
        key_id          TEXT NOT NULL,
        path            TEXT NOT NULL,
        request_digest  TEXT NOT NULL,                 -- what approvers sign
        signing_digest  TEXT NOT NULL,                 -- hex of what the wallet key signs
        bundle          TEXT NOT NULL,                 -- RequestBundle JSON, with approvals and vetoes
        reference       TEXT,
        evm_from        TEXT,                          -- lower-case sender, for nonce reservation
        evm_nonce       INTEGER,
        status          TEXT NOT NULL,
        decision        TEXT,                          -- last Decision JSON (with trace)
        signature       TEXT,
        signed_tx       TEXT,
        tx_hash         TEXT,
        signers         TEXT,                          -- JSON node ids
        error           TEXT,
        first_seen_ms   INTEGER NOT NULL,              -- when this node first saw the request
        next_action_ms  INTEGER,                       -- when the scheduler looks at it again
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX requests_idempotency ON requests(operator, idempotency_key);
      CREATE INDEX requests_next_action ON requests(next_action_ms) WHERE next_action_ms IS NOT NULL;
      CREATE INDEX requests_status ON requests(status, created_at);

      CREATE TABLE request_transitions (
        request_id TEXT NOT NULL REFERENCES requests(id),
        seq        INTEGER NOT NULL,
        status     TEXT NOT NULL,
        at         TEXT NOT NULL,
        detail     TEXT,
        PRIMARY KEY (request_id, seq)
      ) STRICT;
    `,
  },
  {
    version: 4,
    name: 'policy gate: signed policy versions, decisions, authorizations in flight, receipts by time',
    sql: `
      -- Every policy version this node verified, with the time it first received it (the start of its
      -- timelock). initial = 1 for the cluster's first version (installed from the configuration).
      CREATE TABLE policy_versions (
        version        INTEGER NOT NULL,
        digest         TEXT NOT NULL,
        document       TEXT NOT NULL,                 -- the document's wire JSON, as published
        signatures     TEXT NOT NULL,                 -- JSON [{adminId, signature}]
        received_at_ms INTEGER NOT NULL,
        initial        INTEGER NOT NULL DEFAULT 0,
        source         TEXT NOT NULL,                 -- config | api:<key> | peer:<node>
        PRIMARY KEY (version, digest)
      ) STRICT;

      -- Every evaluation the gate made for a signature (dry runs are not stored), with its trace.
      CREATE TABLE policy_decisions (
        seq            INTEGER PRIMARY KEY,
        request_id     TEXT,
        request_digest TEXT,
        session_id     TEXT,
        outcome        TEXT NOT NULL,
        decision       TEXT NOT NULL,                 -- Decision JSON
        at_ms          INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX policy_decisions_request ON policy_decisions(request_id);

      -- When this node first saw a request id (forwarded notice or start control).
      CREATE TABLE policy_requests_seen (
        request_id       TEXT PRIMARY KEY,
        first_seen_at_ms INTEGER NOT NULL
      ) STRICT;

      -- Requests this node authorized for signing and has not yet seen complete; they count against
      -- limits like receipts (two concurrent requests cannot both fit one limit).
      CREATE TABLE policy_authorizations (
        request_digest   TEXT PRIMARY KEY,
        session_id       TEXT NOT NULL,
        body             TEXT NOT NULL,               -- receipt body JSON (completedAtMs = authorization time)
        authorized_at_ms INTEGER NOT NULL,
        completed_at_ms  INTEGER
      ) STRICT;

      -- receipts (migration 1): one row per (request digest, signing node), signed by that node.
      ALTER TABLE receipts ADD COLUMN signer TEXT;
      ALTER TABLE receipts ADD COLUMN completed_at_ms INTEGER;
      CREATE INDEX receipts_completed ON receipts(completed_at_ms);
    `,
  },
  {
    version: 6,
    name: 'receipts by destination and policy wallet (first-time-destination delays)',
    sql: `
      -- The gate asks, per evaluation, whether one policy wallet already paid one destination
      -- (signer-node/docs/policy-api.md, "Known destinations"). Generated from the stored body, so
      -- receipts stored before this migration are covered too. destination_folded is the ASCII-lowercased
      -- address (EVM compares case-insensitively); the exact comparison per chain follows in code.
      ALTER TABLE receipts ADD COLUMN destination_folded TEXT
        GENERATED ALWAYS AS (lower(json_extract(body, '$.to'))) VIRTUAL;
      ALTER TABLE receipts ADD COLUMN wallet TEXT GENERATED ALWAYS AS (json_extract(body, '$.wallet')) VIRTUAL;
      CREATE INDEX receipts_destination ON receipts(destination_folded, wallet, completed_at_ms);
    `,
  },
];
