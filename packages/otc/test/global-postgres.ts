// vitest global setup: one PostgreSQL server for the whole run; each OTC test file creates its own
// database on it (test/helpers/db.ts), so files never see each other's rows.
import type { TestProject } from 'vitest/node';
import { startPostgres } from './helpers/postgres-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    otcPostgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const server = await startPostgres();
  project.provide('otcPostgresUrl', server.url());
  return () => server.stop();
}
