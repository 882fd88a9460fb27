// The OTC desk assembled from its configuration: database (migrated), price source, screening, the
// custody client for the signer nodes, the buy desk, payments, the release worker and the webhook
// dispatcher. main.ts serves it over HTTP; tests and the demo build it the same way.

import { createScreening, type Screening } from './compliance/screening.ts';
import type { OtcConfig } from './config/types.ts';
import { CustodyClient } from './custody/release.ts';
import { type Database, openDatabase } from './db/database.ts';
import { migrate } from './db/migrations.ts';
import { BuyDesk } from './orders/buy.ts';
import type { Custody } from './orders/deps.ts';
import { Payments } from './orders/payments.ts';
import { ReleaseWorker } from './orders/release.ts';
import { createPriceSource, type PriceSource } from './pricing/sources.ts';
import { WebhookDispatcher } from './webhooks/deliver.ts';

export type Desk = {
  config: OtcConfig;
  db: Database;
  now: () => number;
  prices: PriceSource;
  screening: Screening;
  custody: Custody;
  buy: BuyDesk;
  payments: Payments;
  worker: ReleaseWorker;
  dispatcher: WebhookDispatcher | undefined;
  close(): Promise<void>;
};

export type OpenDeskOptions = {
  /** An open database (tests); otherwise config.database is opened and migrated. */
  db?: Database;
  now?: () => number;
  /** Another custody implementation (the benchmark's bare-route peer uses none). */
  custody?: Custody;
};

export async function openDesk(config: OtcConfig, opts: OpenDeskOptions = {}): Promise<Desk> {
  const db = opts.db ?? (await openDatabase(config.database));
  try {
    await migrate(db);
  } catch (e) {
    if (opts.db === undefined) await db.close();
    throw e;
  }
  const now = opts.now ?? Date.now;
  const prices = createPriceSource(config.pricing.source, now);
  const screening = createScreening(config.compliance);
  const custody = opts.custody ?? new CustodyClient(config.custody, config.assets);
  const deps = {
    db,
    config,
    now,
    custody,
    screen: (t: { chain: string; address: string }) =>
      screening.screen({ chain: t.chain, address: t.address }),
  };
  const buy = new BuyDesk(deps);
  const worker = new ReleaseWorker(deps, (order) => buy.screen(order));
  const dispatcher =
    config.webhooks.outbound === undefined
      ? undefined
      : new WebhookDispatcher({ db, config: config.webhooks.outbound, now });
  return {
    config,
    db,
    now,
    prices,
    screening,
    custody,
    buy,
    payments: new Payments(deps),
    worker,
    dispatcher,
    async close() {
      await worker.stop();
      await dispatcher?.stop();
      if (opts.db === undefined) await db.close();
    },
  };
}
