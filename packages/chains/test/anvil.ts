// Starts a real local anvil (npm @foundry-rs/anvil) on a free loopback port for one test file, and
// stops it afterwards. Readiness is polled a bounded number of times.
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

export interface Anvil {
  url: string;
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function anvilBinary(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@foundry-rs/anvil/package.json')), 'bin.mjs');
}

export async function startAnvil(): Promise<Anvil> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    process.execPath,
    [anvilBinary(), '--host', '127.0.0.1', '--port', String(port), '--quiet'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let nextId = 1;
  const rpc = async (method: string, params: unknown[] = []): Promise<unknown> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
      signal: AbortSignal.timeout(5_000),
    });
    const reply = (await response.json()) as { result?: unknown; error?: { message: string } };
    if (reply.error !== undefined) throw new Error(`${method}: ${reply.error.message}`);
    return reply.result;
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`anvil exited with ${child.exitCode}: ${stderr}`);
    try {
      await rpc('eth_chainId');
      return { url, rpc, stop };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await stop();
  throw new Error(`anvil did not answer on ${url} within 10 s: ${stderr}`);
}

/**
 * A minimal ERC-20 (balanceOf, transfer with Transfer event) assembled by hand so no compiler is
 * needed. Balances live at storage slot = holder address; the constructor credits `supply` to the
 * deployer.
 */
export function minimalTokenInitCode(supply: bigint): `0x${string}` {
  type Item = string | { push2: string } | { label: string };
  const TRANSFER_TOPIC = 'ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
  const runtime: Item[] = [
    '6000',
    '35',
    '60e0',
    '1c', // PUSH1 0 CALLDATALOAD PUSH1 224 SHR → selector
    '80',
    '63a9059cbb',
    '14',
    { push2: 'transfer' },
    '57', // DUP1 PUSH4 transfer EQ → JUMPI
    '80',
    '6370a08231',
    '14',
    { push2: 'balanceOf' },
    '57', // DUP1 PUSH4 balanceOf EQ → JUMPI
    '6000',
    '80',
    'fd', // PUSH1 0 DUP1 REVERT
    { label: 'balanceOf' },
    '5b',
    '6004',
    '35',
    '54',
    '6000',
    '52',
    '6020',
    '6000',
    'f3',
    { label: 'transfer' },
    '5b',
    '6024',
    '35',
    '33',
    '54', // amount, balance[caller]
    '81',
    '81',
    '10',
    { push2: 'fail' },
    '57', // if balance < amount → fail
    '03',
    '33',
    '55', // balance[caller] = balance − amount
    '6024',
    '35',
    '6004',
    '35',
    '80',
    '54',
    '82',
    '01',
    '90',
    '55', // balance[to] += amount
    '6000',
    '52', // mstore(0, amount)
    '6004',
    '35',
    '33',
    `7f${TRANSFER_TOPIC}`,
    '6020',
    '6000',
    'a3', // LOG3(Transfer, caller, to)
    '6001',
    '6000',
    '52',
    '6020',
    '6000',
    'f3', // return true
    { label: 'fail' },
    '5b',
    '6000',
    '80',
    'fd',
  ];
  const labels = new Map<string, number>();
  let offset = 0;
  for (const item of runtime) {
    if (typeof item === 'string') offset += item.length / 2;
    else if ('push2' in item) offset += 3;
    else labels.set(item.label, offset);
  }
  const code = runtime
    .map((item) => {
      if (typeof item === 'string') return item;
      if ('push2' in item) return `61${labels.get(item.push2)!.toString(16).padStart(4, '0')}`;
      return '';
    })
    .join('');
  const length = (code.length / 2).toString(16).padStart(4, '0');
  // PUSH32 supply CALLER SSTORE; PUSH2 len PUSH2 50 PUSH1 0 CODECOPY; PUSH2 len PUSH1 0 RETURN (50 bytes).
  const creation =
    `7f${supply.toString(16).padStart(64, '0')}3355` + `61${length}610032600039` + `61${length}6000f3`;
  return `0x${creation}${code}`;
}
