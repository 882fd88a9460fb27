// Loading a PKCS#11 module and logging in to a token found by its label. One pkcs11js instance per
// module path per process (C_Initialize may run only once), reference-counted; one login per token,
// shared by every session that opens it, so that closing one keystore does not log out another. A
// second opener in the same process must present the same PIN (compared through an HMAC under a
// per-process key), since the token itself would accept any PIN once the application is logged in.
//
// Every pkcs11js call is synchronous, so a multi-call operation (C_EncryptInit + C_Encrypt) can never
// interleave with another one on the same session.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { equalBytes } from '@noble/ciphers/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type * as Pkcs11Types from 'pkcs11js';
import { HsmError } from '../errors.ts';

export type Pkcs11Module = typeof Pkcs11Types;
export type Pkcs11Api = Pkcs11Types.PKCS11;
export type Handle = Pkcs11Types.Handle;

export interface LoadedLibrary {
  readonly path: string;
  readonly module: Pkcs11Module;
  readonly api: Pkcs11Api;
  users: number;
  readonly logins: Map<string, { users: number; pinTag: Uint8Array }>;
}

const libraries = new Map<string, LoadedLibrary>();
const pinTagKey = randomBytes(32);
const require = createRequire(import.meta.url);

/** Name of a pkcs11js error ("CKR_PIN_INCORRECT") or a short description; never carries data. */
export function ckrName(error: unknown): string {
  if (error instanceof Error && /^CKR_[A-Z0-9_]+$/.test(error.message)) return error.message;
  if (error instanceof Error && error.name === 'TypeError') return `TypeError: ${error.message}`;
  return error instanceof Error ? error.name : 'unknown error';
}

function loadModule(): Pkcs11Module {
  try {
    return require('pkcs11js') as Pkcs11Module;
  } catch (error) {
    throw new HsmError(
      'library-not-found',
      `the pkcs11js native addon cannot be loaded (${error instanceof Error ? error.message.split('\n')[0] : 'unknown'}); ` +
        'run scripts/bootstrap.sh so that pnpm builds it',
    );
  }
}

/** Loads (once) and initialises the PKCS#11 module at `libraryPath`. Pair with releaseLibrary. */
export function acquireLibrary(libraryPath: string): LoadedLibrary {
  if (typeof libraryPath !== 'string' || libraryPath === '') {
    throw new HsmError('invalid-argument', 'PKCS#11 libraryPath must be a non-empty path');
  }
  const path = resolve(libraryPath);
  const existing = libraries.get(path);
  if (existing !== undefined) {
    existing.users += 1;
    return existing;
  }
  if (!existsSync(path)) {
    throw new HsmError(
      'library-not-found',
      `PKCS#11 module ${path} does not exist (for SoftHSM2: apt-get install -y softhsm2)`,
    );
  }
  const module = loadModule();
  const api = new module.PKCS11();
  try {
    api.load(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : 'unknown';
    throw new HsmError('library-not-found', `PKCS#11 module ${path} cannot be loaded (${reason})`);
  }
  try {
    api.C_Initialize();
  } catch (error) {
    if (ckrName(error) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      throw new HsmError('token-error', `C_Initialize of ${path} failed (${ckrName(error)})`);
    }
  }
  const loaded: LoadedLibrary = { path, module, api, users: 1, logins: new Map() };
  libraries.set(path, loaded);
  return loaded;
}

export function releaseLibrary(library: LoadedLibrary): void {
  library.users -= 1;
  if (library.users > 0) return;
  libraries.delete(library.path);
  try {
    library.api.C_Finalize();
  } catch {
    // finalising a module that is going away: nothing useful to report
  }
}

/** Finds the one slot whose token carries `tokenLabel` (slot ids change between runs; labels do not). */
export function findSlotByTokenLabel(library: LoadedLibrary, tokenLabel: string): Handle {
  let slots: Handle[];
  try {
    slots = library.api.C_GetSlotList(true);
  } catch (error) {
    throw new HsmError('token-error', `C_GetSlotList failed (${ckrName(error)})`);
  }
  const labels: string[] = [];
  const matches: Handle[] = [];
  for (const slot of slots) {
    let label: string;
    try {
      label = library.api.C_GetTokenInfo(slot).label.replace(/[ \0]+$/, '');
    } catch (error) {
      throw new HsmError('token-error', `C_GetTokenInfo failed in ${library.path} (${ckrName(error)})`);
    }
    labels.push(label);
    if (label === tokenLabel) matches.push(slot);
  }
  if (matches.length === 0) {
    const seen =
      labels.length === 0 ? 'no initialised tokens' : `tokens ${labels.map((l) => `"${l}"`).join(', ')}`;
    throw new HsmError(
      'token-not-found',
      `no PKCS#11 token labelled "${tokenLabel}" in ${library.path} (found ${seen})`,
    );
  }
  if (matches.length > 1) {
    throw new HsmError(
      'token-ambiguous',
      `${matches.length} PKCS#11 tokens are labelled "${tokenLabel}" in ${library.path}`,
    );
  }
  return matches[0]!;
}

export interface TokenSession {
  readonly library: LoadedLibrary;
  readonly slot: Handle;
  readonly session: Handle;
  readonly tokenLabel: string;
  closed: boolean;
}

/**
 * Opens a read-write session on the token labelled `tokenLabel` and logs in as the normal user.
 * `readPin` is called only once the token has been found, so a missing token is reported as such.
 */
export function openTokenSession(
  libraryPath: string,
  tokenLabel: string,
  readPin: () => string,
  pinSource: string,
): TokenSession {
  const library = acquireLibrary(libraryPath);
  let session: Handle | undefined;
  try {
    const slot = findSlotByTokenLabel(library, tokenLabel);
    const pin = readPin();
    const { api, module } = library;
    try {
      session = api.C_OpenSession(slot, module.CKF_SERIAL_SESSION | module.CKF_RW_SESSION);
    } catch (error) {
      throw new HsmError('token-error', `C_OpenSession on token "${tokenLabel}" failed (${ckrName(error)})`);
    }
    login(library, slot, session, pin, tokenLabel, pinSource);
    return { library, slot, session, tokenLabel, closed: false };
  } catch (error) {
    if (session !== undefined) {
      try {
        library.api.C_CloseSession(session);
      } catch {
        // the session is being abandoned
      }
    }
    releaseLibrary(library);
    throw error;
  }
}

function login(
  library: LoadedLibrary,
  slot: Handle,
  session: Handle,
  pin: string,
  tokenLabel: string,
  pinSource: string,
) {
  const slotKey = slot.toString('hex');
  const pinTag = hmac(sha256, pinTagKey, new TextEncoder().encode(pin));
  const existing = library.logins.get(slotKey);
  if (existing !== undefined) {
    if (!equalBytes(existing.pinTag, pinTag)) {
      throw new HsmError('wrong-pin', `PIN from ${pinSource} is not the PIN of token "${tokenLabel}"`);
    }
    existing.users += 1;
    return;
  }
  try {
    library.api.C_Login(session, library.module.CKU_USER, pin);
  } catch (error) {
    const name = ckrName(error);
    if (name === 'CKR_PIN_INCORRECT' || name === 'CKR_PIN_LEN_RANGE') {
      throw new HsmError('wrong-pin', `token "${tokenLabel}" rejected the PIN from ${pinSource} (${name})`);
    }
    if (name === 'CKR_PIN_LOCKED') {
      throw new HsmError('pin-locked', `the user PIN of token "${tokenLabel}" is locked (${name})`);
    }
    if (name === 'CKR_USER_ALREADY_LOGGED_IN') {
      throw new HsmError(
        'token-error',
        `token "${tokenLabel}" is already logged in by other code in this process; cannot verify the PIN`,
      );
    }
    throw new HsmError('token-error', `C_Login on token "${tokenLabel}" failed (${name})`);
  }
  library.logins.set(slotKey, { users: 1, pinTag });
}

/** Closes the session; the last session of a token logs out; the last user of the module finalises it. */
export function closeTokenSession(token: TokenSession): void {
  if (token.closed) return;
  token.closed = true;
  const { library } = token;
  const slotKey = token.slot.toString('hex');
  const login = library.logins.get(slotKey);
  if (login !== undefined) {
    login.users -= 1;
    if (login.users === 0) {
      library.logins.delete(slotKey);
      try {
        library.api.C_Logout(token.session);
      } catch {
        // logging out a session that is closing anyway
      }
    }
  }
  try {
    library.api.C_CloseSession(token.session);
  } catch {
    // already closed by the module
  }
  releaseLibrary(library);
}

/** All object handles matching `template` (bounded: a token with more than 64 matches is misconfigured). */
export function findObjects(token: TokenSession, template: Pkcs11Types.Template): Handle[] {
  const { api } = token.library;
  try {
    api.C_FindObjectsInit(token.session, template);
    try {
      return api.C_FindObjects(token.session, 64);
    } finally {
      api.C_FindObjectsFinal(token.session);
    }
  } catch (error) {
    throw new HsmError(
      'token-error',
      `object search on token "${token.tokenLabel}" failed (${ckrName(error)})`,
    );
  }
}
