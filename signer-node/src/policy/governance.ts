// Policy versions in the node (DESIGN §5, signer-node/docs/policy-api.md): every version this node
// verified itself (m distinct configured admin signatures over the document digest), stored with the
// time this node first received it, which starts its timelock. The cluster's first version comes from
// the configuration (`initialVersionFile`) and has no timelock: there is no earlier version to protect.
import { readFileSync } from 'node:fs';
import {
  type ActivePolicy,
  activeAmong,
  type GovernanceConfig,
  type SignedPolicyVersion,
  type VersionCheck,
  verifyPolicyVersion,
} from '@coffer/policy/governance';
import { signedPolicyVersionFromWire } from '@coffer/policy/wire';
import type { AuditLog } from '../audit/log.ts';
import type { PolicyConfig } from '../config/config.ts';
import { durably, type NodeDatabase } from '../storage/db.ts';

/** Submission times whose active version is remembered (one per request being decided; oldest first out). */
const ACTIVE_MEMO_MAX = 1024;

/** A version refused by this node: `field` names what was wrong, `reason` says why. */
export class PolicyVersionError extends Error {
  override readonly name = 'PolicyVersionError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export interface VersionView {
  version: number;
  digest: string;
  activeFromMs: number;
  receivedAtMs: number;
  signers: string[];
  initial: boolean;
  source: string;
}

type Row = {
  version: number;
  digest: string;
  document: string;
  signatures: string;
  received_at_ms: number;
  initial: number;
  source: string;
};

/** Decodes `{document, signatures, receivedAtMs?}`; the node's own time replaces any receivedAtMs. */
export function decodeSignedVersion(value: unknown, receivedAtMs: number): SignedPolicyVersion {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PolicyVersionError('signedPolicy', 'must be an object');
  try {
    return signedPolicyVersionFromWire({ ...(value as Record<string, unknown>), receivedAtMs });
  } catch (e) {
    const err = e as { field?: string; reason?: string; message: string };
    throw new PolicyVersionError(err.field ?? 'signedPolicy', err.reason ?? err.message);
  }
}

export class PolicyGovernance {
  readonly config: GovernanceConfig;

  constructor(
    private readonly db: NodeDatabase,
    private readonly audit: AuditLog,
    private readonly nodeId: string,
    policy: PolicyConfig,
    private readonly initialVersionFile?: string,
  ) {
    this.config = policy.governance;
  }

  /** Installs the configured first version when the database holds none. Throws if it does not verify. */
  installInitial(nowMs: number): VersionView | undefined {
    const count = (this.db.prepare('SELECT COUNT(*) AS n FROM policy_versions').get() as { n: number }).n;
    if (count > 0 || this.initialVersionFile === undefined) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.initialVersionFile, 'utf8'));
    } catch (e) {
      throw new PolicyVersionError(
        'policy.initialVersionFile',
        `cannot read ${this.initialVersionFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    const signed = decodeSignedVersion(raw, nowMs);
    // No timelock for the first version: verified as if received a timelock ago.
    const check = verifyPolicyVersion(this.config, {
      ...signed,
      receivedAtMs: nowMs - this.config.timelockMs,
    });
    if (!check.ok) throw new PolicyVersionError('policy.initialVersionFile', check.reason);
    this.audit.append('policy.installed', this.nodeId, `policy-v${check.policy.version}`, {
      version: check.policy.version,
      digest: check.digest,
      signers: check.signers,
      activeFromMs: check.activeFromMs,
    });
    this.insert(signed, check.policy.version, check.digest, nowMs, true, 'config');
    return this.viewOf(this.row(check.policy.version, check.digest)!);
  }

  /**
   * Verifies a version received from an admin or a peer, with this node's own receipt time. Returns
   * the stored view and whether it was new; throws PolicyVersionError when it does not verify.
   */
  submit(value: unknown, source: string, nowMs: number): { view: VersionView; isNew: boolean } {
    const signed = decodeSignedVersion(value, nowMs);
    const check = verifyPolicyVersion(this.config, signed);
    if (!check.ok) throw new PolicyVersionError('signedPolicy', check.reason);
    const existing = this.row(check.policy.version, check.digest);
    if (existing) return { view: this.viewOf(existing), isNew: false };
    this.audit.append('policy.version-received', source, `policy-v${check.policy.version}`, {
      version: check.policy.version,
      digest: check.digest,
      signers: check.signers,
      receivedAtMs: nowMs,
      activeFromMs: check.activeFromMs,
    });
    this.insert(signed, check.policy.version, check.digest, nowMs, false, source);
    return { view: this.viewOf(this.row(check.policy.version, check.digest)!), isNew: true };
  }

  private insert(
    signed: SignedPolicyVersion,
    version: number,
    digest: string,
    receivedAtMs: number,
    initial: boolean,
    source: string,
  ): void {
    durably(this.db, () =>
      this.db
        .prepare(
          `INSERT OR IGNORE INTO policy_versions (version, digest, document, signatures, received_at_ms, initial, source)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          version,
          digest,
          JSON.stringify(signed.document),
          JSON.stringify(signed.signatures),
          receivedAtMs,
          initial ? 1 : 0,
          source,
        ),
    );
    this.cache = undefined;
    this.activeMemo.clear();
  }

  private row(version: number, digest: string): Row | undefined {
    return this.db
      .prepare('SELECT * FROM policy_versions WHERE version = ? AND digest = ?')
      .get(version, digest) as Row | undefined;
  }

  private cache: SignedPolicyVersion[] | undefined;

  /** Stored versions as the engine takes them (the first version's timelock already elapsed). */
  versions(): SignedPolicyVersion[] {
    if (this.cache) return this.cache;
    const rows = this.db.prepare('SELECT * FROM policy_versions ORDER BY version, digest').all() as Row[];
    this.cache = rows.map((r) => ({
      document: JSON.parse(r.document) as unknown,
      signatures: JSON.parse(r.signatures) as SignedPolicyVersion['signatures'],
      receivedAtMs: r.initial === 1 ? r.received_at_ms - this.config.timelockMs : r.received_at_ms,
    }));
    return this.cache;
  }

  /**
   * The version in force at `atMs`. The stored versions are checked once (signatures, parse, digest)
   * until a version is stored, and the answer for one `atMs` is remembered: every evaluation of one
   * request asks for its submission time.
   */
  active(atMs: number): ActivePolicy | undefined {
    const checks = this.checks();
    if (this.activeMemo.has(atMs)) return this.activeMemo.get(atMs);
    const active = activeAmong(checks, atMs);
    if (this.activeMemo.size >= ACTIVE_MEMO_MAX)
      this.activeMemo.delete(this.activeMemo.keys().next().value as number);
    this.activeMemo.set(atMs, active);
    return active;
  }

  private readonly activeMemo = new Map<number, ActivePolicy | undefined>();
  private checked: { versions: SignedPolicyVersion[]; checks: VersionCheck[] } | undefined;

  /** verifyPolicyVersion of every stored version, redone only when the stored versions change. */
  private checks(): VersionCheck[] {
    const versions = this.versions();
    if (this.checked?.versions !== versions)
      this.checked = { versions, checks: versions.map((v) => verifyPolicyVersion(this.config, v)) };
    return this.checked.checks;
  }

  private viewOf(r: Row): VersionView {
    const check = verifyPolicyVersion(this.config, {
      document: JSON.parse(r.document) as unknown,
      signatures: JSON.parse(r.signatures) as SignedPolicyVersion['signatures'],
      receivedAtMs: r.initial === 1 ? r.received_at_ms - this.config.timelockMs : r.received_at_ms,
    });
    return {
      version: r.version,
      digest: r.digest,
      activeFromMs: check.ok ? check.activeFromMs : Number.MAX_SAFE_INTEGER,
      receivedAtMs: r.received_at_ms,
      signers: check.ok ? check.signers : [],
      initial: r.initial === 1,
      source: r.source,
    };
  }

  /** `GET /v1/policy`: the version in force now and every stored version. */
  view(nowMs: number): {
    active: { version: number; digest: string; activeFromMs: number } | null;
    versions: VersionView[];
  } {
    const rows = this.db.prepare('SELECT * FROM policy_versions ORDER BY version, digest').all() as Row[];
    const active = this.active(nowMs);
    return {
      active: active
        ? { version: active.policy.version, digest: active.digest, activeFromMs: active.activeFromMs }
        : null,
      versions: rows.map((r) => this.viewOf(r)),
    };
  }

  /** The wire form peers receive (notice `policy.version`). */
  wireOf(version: number, digest: string): { document: unknown; signatures: unknown } | undefined {
    const r = this.row(version, digest);
    return r ? { document: JSON.parse(r.document), signatures: JSON.parse(r.signatures) } : undefined;
  }
}
