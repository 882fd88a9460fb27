// The OTC service process: `node --import tsx packages/otc/src/main.ts --config otc.json`. Opens and
// migrates the database (PGlite data directory by default, DATABASE_URL for a PostgreSQL server),
// serves the API, runs the release worker and the webhook dispatcher, and prints one JSON line
// {"event":"otc-ready","url":…} on stdout when it listens. SIGTERM and SIGINT stop it cleanly.

import { registerRoutes } from './api/routes/index.ts';
import { buildServer, createLogger } from './api/server.ts';
import { loadConfigFile } from './config/parse.ts';
import { openDesk } from './desk.ts';
import { OtcError } from './errors.ts';

// Releases in flight are followed this often: a broadcast or a confirmation shows within a quarter second.
const WORKER_INTERVAL_MS = 250;

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

async function main(): Promise<void> {
  const file = argument('--config');
  if (file === undefined) throw new OtcError('invalid-request', 'usage: otc --config FILE', 'config');
  const config = loadConfigFile(file);
  const log = createLogger(config.logLevel);
  const desk = await openDesk(config);
  const app = await buildServer({ config, db: desk.db, log }, registerRoutes(desk));
  const address = await app.listen({ host: config.listen.host, port: config.listen.port });
  desk.worker.start(WORKER_INTERVAL_MS);
  desk.dispatcher?.start();
  process.stdout.write(`${JSON.stringify({ event: 'otc-ready', url: address, database: desk.db.kind })}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await app.close();
    await desk.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((e: unknown) => {
  const body = e instanceof OtcError ? e.toJSON() : { code: 'internal', message: (e as Error).message };
  process.stderr.write(`${JSON.stringify({ event: 'otc-failed', ...body })}\n`);
  process.exit(1);
});
