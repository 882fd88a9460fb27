// Local 3-node Coffer cluster for development: initialises three signer nodes under .coffer-dev/
// (SoftHSM2 tokens when softhsm2-util is installed, otherwise the software backend), starts each as
// its own process, waits until every node is ready, and stops them all when this script exits.
// Usage: pnpm --filter @coffer/scripts cluster [--fresh]      (Ctrl-C stops the nodes)
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ClusterSpec, initCluster, loadCluster, NodeProcess } from '@coffer/signer-node/dev-cluster';

export const DEV_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '.coffer-dev');

export type RunningCluster = { spec: ClusterSpec; nodes: NodeProcess[]; stop: () => Promise<void> };

/** Initialises (unless `dir` already holds a cluster and !fresh) and starts every node. */
export async function bringUp(dir: string, opts: { fresh?: boolean } = {}): Promise<RunningCluster> {
  if (opts.fresh) rmSync(dir, { recursive: true, force: true });
  mkdirSync(DEV_DIR, { recursive: true });
  // Development secrets live here: keep them out of git.
  writeFileSync(join(DEV_DIR, '.gitignore'), '*\n');
  const spec = existsSync(join(dir, 'cluster.json'))
    ? loadCluster(dir)
    : await initCluster({ dir, logLevel: 'warn' });
  const nodes = spec.nodes.map((n) => new NodeProcess(n, spec.env));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(nodes.map((n) => n.stop()));
  };
  // Last resort: never leave node processes behind when this process goes away.
  process.once('exit', () => {
    for (const n of nodes) n.child?.kill('SIGKILL');
  });
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (e) {
    await stop();
    throw e;
  }
  return { spec, nodes, stop };
}

async function main(): Promise<void> {
  const dir = join(DEV_DIR, 'cluster');
  const cluster = await bringUp(dir, { fresh: process.argv.includes('--fresh') });
  for (const n of cluster.nodes)
    console.log(`${n.spec.id}  ${n.url}  (${n.spec.backend} backend, data ${join(n.spec.dir, 'data')})`);
  console.log(
    `admin API token in ${join(dir, 'cluster.json')} (adminToken); OpenAPI at ${cluster.nodes[0]!.url}/docs`,
  );
  console.log('cluster is up; Ctrl-C stops it');
  const shutdown = () => {
    cluster.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
