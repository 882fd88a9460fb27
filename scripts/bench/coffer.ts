// Loads Coffer's simulator and the DKLs23 party factories at run time, so the harness runs at every
// stage of the library: anything missing or throwing becomes an `{ error }` entry, never a crash.
// The shapes below are the subset of the public API the benchmarks use (issue 2 §2, issue 3).

export type CofferStats = { messages: number; bytes: number };

export type CofferShare = {
  readonly scheme: string;
  readonly index: number;
  readonly threshold: number;
  readonly parties: number;
  readonly publicKey: Uint8Array;
  toBytes(): Uint8Array;
};

export type Scheme = 'schnorr-secp256k1-tr' | 'eddsa-ed25519' | 'ecdsa-secp256k1';

export type SimulatorApi = {
  simulateKeygen(opts: {
    scheme: Scheme;
    threshold: number;
    parties: number;
    stats?: CofferStats;
  }): Promise<CofferShare[]>;
  simulateSign(opts: {
    shares: readonly CofferShare[];
    message: Uint8Array;
    path?: string;
    stats?: CofferStats;
  }): Promise<Uint8Array>;
  /** DKLs23 presigning (issue 3); absent until it lands. Shape is discovered at run time. */
  simulatePresign?: (...args: never[]) => unknown;
  simulateFinishPresigned?: (...args: never[]) => unknown;
};

const ROOT = '@coffer/tss';

/** KeyShare.fromBytes from @coffer/tss. */
export async function loadKeyShareParser(): Promise<(bytes: Uint8Array) => CofferShare> {
  const mod = (await import(ROOT)) as { KeyShare?: { fromBytes?: (bytes: Uint8Array) => CofferShare } };
  const parse = mod.KeyShare?.fromBytes;
  if (typeof parse !== 'function') throw new Error(`${ROOT} does not export KeyShare.fromBytes`);
  return (bytes) => parse.call(mod.KeyShare, bytes);
}

// Non-literal specifiers keep the type checker from requiring modules that may not exist yet.
const SIMULATOR = '@coffer/tss/simulator';
const DKLS23_SIMULATE = '../../packages/tss/src/dkls23/simulate.ts';

let simulator: Promise<SimulatorApi> | undefined;

export function loadSimulator(): Promise<SimulatorApi> {
  simulator ??= import(SIMULATOR).then((mod: Partial<SimulatorApi>) => {
    if (typeof mod.simulateKeygen !== 'function' || typeof mod.simulateSign !== 'function')
      throw new Error(`${SIMULATOR} does not export simulateKeygen / simulateSign`);
    return mod as SimulatorApi;
  });
  return simulator;
}

/** simulatePresign / simulateFinishPresigned, from the simulator or from the DKLs23 module directly. */
export async function loadPresignApi(): Promise<Record<string, unknown>> {
  const sim = (await loadSimulator()) as unknown as Record<string, unknown>;
  if (typeof sim.simulatePresign === 'function' && typeof sim.simulateFinishPresigned === 'function')
    return sim;
  let direct: Record<string, unknown>;
  try {
    direct = (await import(new URL(DKLS23_SIMULATE, import.meta.url).href)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`presigning not available: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof direct.simulatePresign !== 'function' || typeof direct.simulateFinishPresigned !== 'function')
    throw new Error('presigning not available: simulatePresign / simulateFinishPresigned not exported');
  return direct;
}
