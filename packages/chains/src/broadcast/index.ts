// @coffer/chains/broadcast: the shared broadcaster interface, bounded HTTP and confirmation tracking.
export {
  type Broadcaster,
  type TransactionState,
  type TransactionStatus,
  type WaitOptions,
  waitForConfirmations,
} from './confirm.ts';
export type { EndpointConfig } from './http.ts';
