// Containers for secret bytes and the sources secrets are read from. A SecretBytes prints as
// `SecretBytes(<redacted>, 32 bytes)` through JSON.stringify, util.inspect and string conversion;
// the bytes are reachable only through an explicit `expose()` call, which returns a copy.
import { readFileSync } from 'node:fs';
import { HsmError } from './errors.ts';

export const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

export class SecretBytes {
  #bytes: Uint8Array;
  #wiped = false;

  /** Takes ownership of `bytes` (the caller must not keep using the array). */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get length(): number {
    return this.#bytes.length;
  }

  /** A copy of the secret bytes; the caller owns (and should wipe) the copy. */
  expose(): Uint8Array {
    if (this.#wiped) throw new HsmError('invalid-argument', 'SecretBytes used after wipe()');
    return this.#bytes.slice();
  }

  /** Overwrites the bytes with zeros; further expose() calls throw. */
  wipe(): void {
    this.#bytes.fill(0);
    this.#wiped = true;
  }

  toJSON(): string {
    return '<redacted>';
  }

  toString(): string {
    return `SecretBytes(<redacted>, ${this.#bytes.length} bytes)`;
  }

  [inspectSymbol](): string {
    return this.toString();
  }
}

/**
 * Where a PIN or passphrase comes from. Only references are configured (an environment variable name
 * or a file path), so configuration objects can be logged without leaking the secret itself.
 */
export type SecretSource = { readonly env: string } | { readonly file: string };

export function describeSecretSource(source: SecretSource): string {
  return 'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;
}

/**
 * Reads the secret named by `source`. A file's single trailing newline is dropped (echo/editor
 * convenience); anything else is kept verbatim. `what` names the secret in errors ("PIN").
 */
export function readSecret(source: SecretSource, what: string): string {
  let value: string | undefined;
  if ('env' in source) {
    if (typeof source.env !== 'string' || source.env === '') {
      throw new HsmError('invalid-argument', `${what} source: environment variable name is empty`);
    }
    value = process.env[source.env];
  } else {
    if (typeof source.file !== 'string' || source.file === '') {
      throw new HsmError('invalid-argument', `${what} source: file path is empty`);
    }
    try {
      value = readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new HsmError('secret-unavailable', `${what} file ${source.file} cannot be read (${reason})`);
    }
  }
  if (value === undefined || value === '') {
    throw new HsmError(
      'secret-unavailable',
      `${what} not available: ${describeSecretSource(source)} is unset or empty`,
    );
  }
  return value;
}
