// Development and test helper: creates a SoftHSM2 token in a fresh directory. SoftHSM reads its token
// directory from the file named by SOFTHSM2_CONF when the module is initialised, so a process that
// uses several helper tokens must create them under one configuration (pass `conf`) and set
// SOFTHSM2_CONF before opening the first keystore. Not for production tokens: the PINs pass through
// softhsm2-util's command line.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateLabel } from './envelope.ts';
import { HsmError } from './errors.ts';

export { SOFTHSM_LIBRARY_PATH } from './pkcs11.ts';

export interface SoftHsmToken {
  /** Path of the SoftHSM2 configuration file (set it as SOFTHSM2_CONF). */
  readonly conf: string;
  /** Directory holding the configuration and the token directory; remove it when done. */
  readonly directory: string;
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
}

export interface CreateSoftHsmTokenOptions {
  /** Token label (default: "coffer-" and random hex). */
  readonly label?: string;
  /** User PIN (default: random). */
  readonly pin?: string;
  /** Security-officer PIN (default: random). */
  readonly soPin?: string;
  /** Existing configuration file from an earlier call: the token joins the same token directory. */
  readonly conf?: string;
}

function tokenDirectoryOf(conf: string): string {
  const match = /^directories\.tokendir\s*=\s*(.+)$/m.exec(readFileSync(conf, 'utf8'));
  if (match?.[1] === undefined)
    throw new HsmError('invalid-argument', `${conf} has no directories.tokendir line`);
  return match[1].trim();
}

/** Creates (and initialises) a SoftHSM2 token; runs softhsm2-util without a shell. */
export function createSoftHsmToken(options: CreateSoftHsmTokenOptions = {}): SoftHsmToken {
  const label = options.label ?? `coffer-${randomBytes(4).toString('hex')}`;
  validateLabel(label, 'token label');
  if (label.length > 32)
    throw new HsmError('invalid-argument', 'a PKCS#11 token label has at most 32 characters');
  const pin = options.pin ?? randomBytes(8).toString('hex');
  const soPin = options.soPin ?? randomBytes(8).toString('hex');
  let conf = options.conf;
  let directory: string;
  if (conf === undefined) {
    directory = mkdtempSync(join(tmpdir(), 'coffer-softhsm-'));
    const tokens = join(directory, 'tokens');
    mkdirSync(tokens, { mode: 0o700 });
    conf = join(directory, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`, {
      mode: 0o600,
    });
  } else {
    directory = join(tokenDirectoryOf(conf), '..');
  }
  try {
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin],
      {
        env: { ...process.env, SOFTHSM2_CONF: conf },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new HsmError(
        'library-not-found',
        'softhsm2-util not found: apt-get install -y softhsm2 (scripts/bootstrap.sh does)',
      );
    }
    const stderr =
      String((error as { stderr?: Buffer }).stderr ?? '')
        .trim()
        .split('\n')[0] ?? '';
    throw new HsmError('token-error', `softhsm2-util --init-token for "${label}" failed: ${stderr}`);
  }
  return { conf, directory, label, pin, soPin };
}

/** Deletes a helper token directory (configuration and every token created under it). */
export function removeSoftHsmDirectory(token: Pick<SoftHsmToken, 'directory'>): void {
  rmSync(token.directory, { recursive: true, force: true });
}
