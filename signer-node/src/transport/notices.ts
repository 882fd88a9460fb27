// Routes one-way notices from pinned peers (SessionManager `onNotice`) to the part of the node that
// owns the topic: a handler registered for "request" receives "request.submitted", "request.approval", …
// A topic nobody registered is dropped and counted; a throwing handler never reaches the transport.
import type { Logger } from 'pino';
import type { Metrics } from '../util/metrics.ts';

export type NoticeHandler = (from: string, topic: string, body: string) => void;

export class NoticeRouter {
  private readonly handlers = new Map<string, NoticeHandler>();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    metrics.counter('coffer_notices_total', 'Notices received from peers, by prefix and outcome');
  }

  /** Registers the handler for every topic `prefix` or `prefix.*`; one handler per prefix. */
  on(prefix: string, handler: NoticeHandler): void {
    if (this.handlers.has(prefix)) throw new Error(`notice prefix ${prefix} already has a handler`);
    this.handlers.set(prefix, handler);
  }

  dispatch(from: string, topic: string, body: string): void {
    const prefix = topic.split('.')[0] ?? topic;
    const handler = this.handlers.get(prefix);
    if (!handler) {
      this.metrics.inc('coffer_notices_total', { prefix, outcome: 'unhandled' });
      this.log.debug({ from, topic }, 'notice without handler dropped');
      return;
    }
    try {
      handler(from, topic, body);
      this.metrics.inc('coffer_notices_total', { prefix, outcome: 'handled' });
    } catch (e) {
      this.metrics.inc('coffer_notices_total', { prefix, outcome: 'refused' });
      this.log.warn({ from, topic, err: (e as Error).message }, 'notice refused');
    }
  }
}
