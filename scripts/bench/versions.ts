// Versions of the measured libraries, read from their installed package.json files.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export const MEASURED_PACKAGES = [
  '@coffer/tss',
  '@noble/curves',
  '@noble/hashes',
  '@cmdcode/frost',
  '@silencelaboratories/dkls-wasm-ll-node',
  '@0xcarbon/dkls23-wasm',
] as const;

/** Finds a package's package.json by walking up from its entry point (not every package exports ./package.json). */
function packageJsonPath(name: string, from: NodeRequire = require): string {
  try {
    return from.resolve(`${name}/package.json`);
  } catch {
    let dir = dirname(from.resolve(name));
    for (;;) {
      const candidate = join(dir, 'package.json');
      try {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string };
        if (pkg.name === name) return candidate;
      } catch {
        // keep walking up
      }
      const parent = dirname(dir);
      if (parent === dir) throw new Error(`package.json of ${name} not found`);
      dir = parent;
    }
  }
}

export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of MEASURED_PACKAGES) {
    try {
      const pkg = JSON.parse(readFileSync(packageJsonPath(name), 'utf8')) as { version?: string };
      out[name] = pkg.version ?? 'unknown';
    } catch (e) {
      out[name] = `unavailable: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  // @cmdcode/frost brings its own noble dependency (a range); record the copy it actually loads.
  try {
    const cmdcode = createRequire(packageJsonPath('@cmdcode/frost'));
    const pkg = JSON.parse(readFileSync(packageJsonPath('@noble/curves', cmdcode), 'utf8')) as {
      version?: string;
    };
    out['@cmdcode/frost > @noble/curves'] = pkg.version ?? 'unknown';
  } catch (e) {
    out['@cmdcode/frost > @noble/curves'] = `unavailable: ${e instanceof Error ? e.message : String(e)}`;
  }
  return out;
}
