// Entry point of the `coffer` command: runs one command line and exits with its code
// (0 ok, 1 operation failed, 2 usage error, 3 cannot reach the node).
import { run } from './cli.ts';

const code = await run(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
});
process.exitCode = code;
