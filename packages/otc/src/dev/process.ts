// The OTC service as a child process (the demo, `pnpm cluster`, benchmarks): started from a config
// file, ready when it prints its otc-ready line, stopped with SIGTERM or killed with SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const OTC_MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export class OtcProcess {
  child: ChildProcess | undefined;
  url = '';
  stderr = '';

  constructor(
    readonly configFile: string,
    private readonly env: Record<string, string> = {},
  ) {}

  /** Spawns the service and resolves with its URL once it listens (bounded by `timeoutMs`). */
  async start(timeoutMs = 60_000): Promise<string> {
    this.stderr = '';
    const child = spawn(process.execPath, ['--import', TSX, OTC_MAIN, '--config', this.configFile], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    return new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the OTC service did not start within ${timeoutMs} ms: ${this.stderr.trim()}`));
      }, timeoutMs);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        for (const line of out.split('\n')) {
          if (!line.startsWith('{"event":"otc-ready"')) continue;
          clearTimeout(timer);
          this.url = (JSON.parse(line) as { url: string }).url;
          resolve(this.url);
          return;
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the OTC service exited with ${code}: ${this.stderr.trim()}`));
      });
    });
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM', 5_000);
  }

  /** SIGKILL: no cleanup, as in a crash. */
  async kill9(): Promise<void> {
    await this.signal('SIGKILL', 0);
  }

  private async signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    const timer = graceMs > 0 ? setTimeout(() => child.kill('SIGKILL'), graceMs) : undefined;
    await done;
    if (timer) clearTimeout(timer);
  }
}
