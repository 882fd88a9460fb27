// Shared test fixtures: real SoftHSM2 tokens (one configuration per test file, since SoftHSM reads
// SOFTHSM2_CONF once per C_Initialize) and software keystores in temporary directories with cheap
// argon2id parameters. PINs and passphrases reach the keystores through environment variables, as
// they do in production.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { expect } from 'vitest';
import { type HsmErrorCode, isHsmError } from '../src/errors.ts';
import { createSoftHsmToken, removeSoftHsmDirectory, type SoftHsmToken } from '../src/softhsm.ts';
import type { Argon2idParameters } from '../src/software.ts';

export const FAST_ARGON2ID: Argon2idParameters = { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 };

let envCounter = 0;
/** Puts `value` in a fresh environment variable and returns its name. */
export function secretInEnv(value: string): string {
  envCounter += 1;
  const name = `COFFER_TEST_SECRET_${process.pid}_${envCounter}`;
  process.env[name] = value;
  return name;
}

export interface TokenSet {
  readonly conf: string;
  readonly tokens: readonly SoftHsmToken[];
  remove(): void;
}

/** Creates `count` SoftHSM tokens under one configuration and points SOFTHSM2_CONF at it. */
export function createTokens(count: number): TokenSet {
  const first = createSoftHsmToken();
  const tokens = [first];
  for (let i = 1; i < count; i++) tokens.push(createSoftHsmToken({ conf: first.conf }));
  process.env.SOFTHSM2_CONF = first.conf;
  return { conf: first.conf, tokens, remove: () => removeSoftHsmDirectory(first) };
}

export function temporaryDirectory(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `coffer-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs `action` and returns the HsmError it throws, failing the test when it throws anything else. */
export async function expectHsmError(action: () => unknown, code: HsmErrorCode): Promise<Error> {
  let thrown: unknown;
  try {
    await action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected HsmError ${code}`).toBeInstanceOf(Error);
  expect(isHsmError(thrown), `not an HsmError: ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
  return thrown as Error;
}

/** Every way a value could be printed: message, stack, JSON and util.inspect. */
export function renderings(value: unknown): string {
  const parts = [inspect(value, { depth: 8, showHidden: true }), JSON.stringify(value) ?? ''];
  if (value instanceof Error) parts.push(value.message, value.stack ?? '', String(value));
  return parts.join('\n');
}

/**
 * Asserts that none of `secrets` appears in `text`: strings verbatim; bytes as hex, base64, or decimal
 * lists as JSON and util.inspect print them (whitespace-normalised; the first 16 bytes suffice).
 */
export function expectNoSecrets(text: string, secrets: readonly (string | Uint8Array)[]): void {
  const normalised = text.replace(/\s+/g, ' ');
  for (const secret of secrets) {
    let forms: string[];
    if (typeof secret === 'string') {
      forms = [secret];
    } else {
      const head = Array.from(secret.subarray(0, 16));
      forms = [
        Buffer.from(secret).toString('hex'),
        Buffer.from(secret).toString('base64'),
        head.join(','), // JSON of a Buffer or array
        head.join(', '), // util.inspect of a Uint8Array
        head.map((byte, i) => `"${i}":${byte}`).join(','), // JSON of a Uint8Array
      ];
    }
    for (const form of forms) {
      expect(
        text.includes(form) || normalised.includes(form),
        `secret leaked in: ${text.slice(0, 200)}`,
      ).toBe(false);
    }
  }
}

/** Contents of every file under `directory` (recursively), for plaintext scans and no-write checks. */
export function snapshotFiles(directory: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(path, readFileSync(path));
    }
  };
  walk(directory);
  return out;
}

export function randomSecret(length = 48): Uint8Array {
  return new Uint8Array(randomBytes(length));
}
