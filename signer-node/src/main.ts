// Signer node entry point: `init --config FILE` creates the keystore (KEK + identity) and the sealed
// X25519 key and prints the public keys peers must pin; `start --config FILE` opens the keystore,
// the database and the audit log, aborts sessions a crash left open, and serves the API.
// Any startup failure prints one clear line and exits non-zero without writing anything.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isHsmError } from '@coffer/hsm';
import { bytesToHex } from '@noble/hashes/utils.js';
import { pino } from 'pino';
import { buildServer } from './api/server.ts';
import { AuditLog } from './audit/log.ts';
import { ConfigError, loadConfig } from './config/config.ts';
import { initNodeKeys, NodeKeyError, openNodeKeys } from './config/keys.ts';
import { PolicyGate } from './policy/gate.ts';
import { PolicyVersionError } from './policy/governance.ts';
import { SessionManager, type SignAuthorization, type SignedEvent } from './sessions/manager.ts';
import { openDatabase, StorageError } from './storage/db.ts';
import { WalletStore } from './store/wallets.ts';
import { NoticeRouter } from './transport/notices.ts';
import { PeerTransport } from './transport/peers.ts';
import { Metrics } from './util/metrics.ts';

export const DATABASE_FILE = 'node.sqlite';

const REDACT = [
  'req.headers.authorization',
  'headers.authorization',
  '*.pin',
  '*.passphrase',
  '*.secret',
  '*.share',
  '*.token',
];

async function start(configPath: string): Promise<void> {
  const config = loadConfig(configPath);
  const log = pino({
    level: config.logLevel,
    redact: { paths: REDACT, censor: '<redacted>' },
    base: { node: config.nodeId },
  });
  const keys = await openNodeKeys(config);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(join(config.dataDir, DATABASE_FILE), { durability: config.durability });
  const audit = new AuditLog(db);
  const metrics = new Metrics();
  // The standard Prometheus process metric: what a signature costs in CPU, for operators and the bench.
  metrics.gauge(
    'process_cpu_seconds_total',
    'User and system CPU time of this node process in seconds',
    () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    },
  );
  const transport = new PeerTransport({
    nodeId: config.nodeId,
    peers: config.peers,
    encryption: keys.encryption,
    sign: (m) => keys.keystore.identity.sign(m),
    metrics,
    requestTimeoutMs: config.timeouts.peerRequestMs,
  });
  const wallets = new WalletStore(db, keys.keystore, { shareCacheMs: config.shareCacheMs });
  const notices = new NoticeRouter(metrics, log);
  const sessions: SessionManager = new SessionManager({
    nodeId: config.nodeId,
    db,
    audit,
    wallets,
    transport,
    metrics,
    log,
    roundTimeoutMs: config.timeouts.roundMs,
    probeTimeoutMs: config.timeouts.probeMs,
    onNotice: (from, topic, body) => notices.dispatch(from, topic, body),
    // The policy gate decides for this node alone, on the coordinator and on every member; a node
    // without a policy section refuses every signature.
    authorizeSign: (a: SignAuthorization) => gate.authorizeSign(a),
    onSigned: (e: SignedEvent) => gate.onSigned(e),
    presign: config.presign,
    ...testStall(),
    ...testTamper(),
  });
  const gate: PolicyGate = new PolicyGate({
    config,
    db,
    audit,
    log,
    wallets,
    sign: (m) => keys.keystore.identity.sign(m),
    identityPublicKey: bytesToHex(keys.keystore.identity.publicKey),
    sendNotice: (peer, topic, body) => sessions.sendNotice(peer, topic, body),
  });
  for (const prefix of ['policy', 'receipt', 'history'])
    notices.on(prefix, (from, topic, body) => gate.handleNotice(from, topic, body));
  audit.append('node.started', config.nodeId, config.nodeId, { backend: keys.keystore.backend });
  gate.start();
  const aborted = sessions.recoverAfterRestart();
  if (aborted > 0) log.warn({ aborted }, 'sessions left open by a previous run were aborted');
  const app = await buildServer({
    config,
    db,
    audit,
    keystore: keys.keystore,
    wallets,
    sessions,
    transport,
    metrics,
    log,
    notices,
    gate,
  });
  const checkpoints = setInterval(() => {
    if (audit.checkpointDue())
      audit
        .checkpoint(keys.keystore.identity)
        .catch((e) => log.error({ err: (e as Error).message }, 'audit checkpoint failed'));
  }, 5_000);
  checkpoints.unref();
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listen.port;
  log.info({ port }, 'signer node listening');
  gate.syncFromPeers();
  // One machine-readable line for scripts and tests that start nodes.
  process.stdout.write(`${JSON.stringify({ event: 'listening', node: config.nodeId, port })}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(checkpoints);
    await sessions.shutdown();
    await app.close();
    await audit.checkpoint(keys.keystore.identity).catch(() => undefined);
    db.close();
    wallets.forgetShares();
    keys.encryption.wipe();
    await keys.keystore.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

/** Crash-test seam (see ManagerOptions.stallAfter); ignored unless COFFER_TEST_STALL is set. */
function testStall(): { stallAfter?: { kind: 'keygen' | 'sign' | 'presign'; round: number } } {
  const m = /^(keygen|sign|presign):([1-9][0-9]?)$/.exec(process.env.COFFER_TEST_STALL ?? '');
  return m ? { stallAfter: { kind: m[1] as 'keygen' | 'sign' | 'presign', round: Number(m[2]) } } : {};
}

/** Lock and ban test seam (see ManagerOptions.tamper); ignored unless COFFER_TEST_TAMPER is set. */
function testTamper(): { tamper?: 'online' | 'multiplication' | 'report' } {
  const t = process.env.COFFER_TEST_TAMPER;
  return t === 'online' || t === 'multiplication' || t === 'report' ? { tamper: t } : {};
}

async function main(argv: string[]): Promise<void> {
  const [command, flag, configPath] = argv;
  if ((command !== 'init' && command !== 'start') || flag !== '--config' || !configPath) {
    process.stderr.write('usage: signer-node (init | start) --config FILE\n');
    process.exit(64);
  }
  try {
    if (command === 'init') {
      const config = loadConfig(configPath);
      const out = await initNodeKeys(config);
      process.stdout.write(`${JSON.stringify({ node: config.nodeId, ...out })}\n`);
    } else await start(configPath);
  } catch (e) {
    const known =
      e instanceof ConfigError ||
      e instanceof NodeKeyError ||
      e instanceof StorageError ||
      e instanceof PolicyVersionError ||
      isHsmError(e);
    const message = known ? (e as Error).message : `unexpected error: ${(e as Error).message}`;
    const code = isHsmError(e) ? ` [${(e as { code: string }).code}]` : '';
    process.stderr.write(`coffer-node: cannot ${command}: ${message}${code}\n`);
    process.exit(2);
  }
}

await main(process.argv.slice(2));
