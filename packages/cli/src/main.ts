// Entry point of the `coffer` command: runs one command line and exits with its code
// (0 ok, 1 operation failed, 2 usage error, 3 cannot reach the node).
import { createInterface } from 'node:readline/promises';
import { run } from './cli.ts';

/** On a terminal: shows what is about to be signed (on stderr, so --json output stays one document) and asks. */
async function confirm(summary: string[]): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    process.stderr.write(`${summary.join('\n')}\n`);
    const answer = await rl.question('sign this? type "yes" to confirm: ');
    return answer.trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

const code = await run(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  ...(process.stdin.isTTY ? { confirm } : {}),
});
process.exitCode = code;
