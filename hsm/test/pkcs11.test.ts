// PKCS#11 backend against real SoftHSM2 tokens: PIN handling, token lookup by label, missing module,
// the KEK's non-extractability (read and wrap attempts through the raw PKCS#11 API), refusal to
// overwrite, the sealed-identity fallback, and that a failed open leaves the token untouched.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { inspectSealedBlob } from '../src/envelope.ts';
import { IDENTITY_CONTEXT } from '../src/identity.ts';
import type { Keystore } from '../src/keystore.ts';
import {
  closeTokenSession,
  findObjects,
  openTokenSession,
  type TokenSession,
} from '../src/pkcs11/library.ts';
import {
  initPkcs11Keystore,
  openPkcs11Keystore,
  type Pkcs11InitOptions,
  SOFTHSM_LIBRARY_PATH,
} from '../src/pkcs11.ts';
import {
  createTokens,
  expectHsmError,
  expectNoSecrets,
  randomSecret,
  renderings,
  secretInEnv,
  type TokenSet,
  temporaryDirectory,
} from './fixtures.ts';

let set: TokenSet;
const pinEnv: string[] = [];
const opened: Keystore[] = [];
const scratch = temporaryDirectory('pkcs11-test');
// Token roles: 0 initialised in beforeAll, 1 sealed-identity fallback, 2 never initialised,
// 3 init/overwrite tests, 4 planted extractable KEK.
const TOKENS = 5;

const options = (index: number, extra: Partial<Pkcs11InitOptions> = {}): Pkcs11InitOptions => ({
  libraryPath: SOFTHSM_LIBRARY_PATH,
  tokenLabel: set.tokens[index]!.label,
  pin: { env: pinEnv[index]! },
  ...extra,
});

async function track(keystore: Promise<Keystore>): Promise<Keystore> {
  const result = await keystore;
  opened.push(result);
  return result;
}

/** A raw session on token `index`, logged in with its PIN (shares the keystores' login bookkeeping). */
function rawSession(index: number): TokenSession {
  return openTokenSession(
    SOFTHSM_LIBRARY_PATH,
    set.tokens[index]!.label,
    () => set.tokens[index]!.pin,
    'test',
  );
}

function objectCount(index: number): number {
  const session = rawSession(index);
  try {
    return findObjects(session, []).length;
  } finally {
    closeTokenSession(session);
  }
}

let main: Keystore;

beforeAll(async () => {
  set = createTokens(TOKENS);
  for (const token of set.tokens) pinEnv.push(secretInEnv(token.pin));
  main = await track(initPkcs11Keystore(options(0)));
});

afterAll(async () => {
  for (const keystore of opened) await keystore.close();
  set.remove();
  scratch.remove();
});

describe('credentials and lookup', () => {
  test('wrong PIN: typed error naming the token and the PIN source, never the PIN', async () => {
    const wrongPin = 'not-the-pin-8817';
    const error = await expectHsmError(
      () => openPkcs11Keystore(options(2, { pin: { env: secretInEnv(wrongPin) } })),
      'wrong-pin',
    );
    expect(error.message).toContain(set.tokens[2]!.label);
    expect(error.message).toMatch(/environment variable COFFER_TEST_SECRET_/);
    expectNoSecrets(renderings(error), [wrongPin, set.tokens[2]!.pin]);
  });

  test('wrong PIN while the same token is already open in this process is still refused', async () => {
    await expectHsmError(
      () => openPkcs11Keystore(options(0, { pin: { env: secretInEnv('0000-wrong') } })),
      'wrong-pin',
    );
  });

  test('PIN read from a file (trailing newline ignored)', async () => {
    const file = join(scratch.path, 'pin');
    writeFileSync(file, `${set.tokens[0]!.pin}\n`, { mode: 0o600 });
    const keystore = await track(openPkcs11Keystore(options(0, { pin: { file } })));
    expect(keystore.kek.id).toEqual(main.kek.id);
  });

  test('PIN source missing: unset variable or absent file is named in the error', async () => {
    const unset = `COFFER_TEST_UNSET_${process.pid}`;
    const error = await expectHsmError(
      () => openPkcs11Keystore(options(0, { pin: { env: unset } })),
      'secret-unavailable',
    );
    expect(error.message).toContain(unset);
    const file = join(scratch.path, 'no-such-pin-file');
    expect(
      (await expectHsmError(() => openPkcs11Keystore(options(0, { pin: { file } })), 'secret-unavailable'))
        .message,
    ).toContain(file);
  });

  test('missing token label: token-not-found names the label and lists what exists', async () => {
    const error = await expectHsmError(
      () => openPkcs11Keystore(options(0, { tokenLabel: 'coffer-no-such-token' })),
      'token-not-found',
    );
    expect(error.message).toContain('"coffer-no-such-token"');
    expect(error.message).toContain(set.tokens[0]!.label);
  });

  test('missing PKCS#11 module: library-not-found names the path', async () => {
    const libraryPath = '/usr/lib/softhsm/libsofthsm2-missing.so';
    const error = await expectHsmError(
      () => openPkcs11Keystore(options(0, { libraryPath })),
      'library-not-found',
    );
    expect(error.message).toContain(libraryPath);
  });

  test('a file that is not a PKCS#11 module is refused as library-not-found', async () => {
    const libraryPath = join(scratch.path, 'not-a-module.so');
    writeFileSync(libraryPath, 'not an ELF file');
    await expectHsmError(() => openPkcs11Keystore(options(0, { libraryPath })), 'library-not-found');
  });
});

describe('KEK protection', () => {
  test('KEK is non-extractable: reading CKA_VALUE fails with CKR_ATTRIBUTE_SENSITIVE', () => {
    const session = rawSession(0);
    try {
      const { api, module: m } = session.library;
      const [kek] = findObjects(session, [
        { type: m.CKA_CLASS, value: m.CKO_SECRET_KEY },
        { type: m.CKA_LABEL, value: main.kek.label },
      ]);
      expect(kek).toBeDefined();
      expect(() => api.C_GetAttributeValue(session.session, kek!, [{ type: m.CKA_VALUE }])).toThrow(
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
      const flags = api.C_GetAttributeValue(session.session, kek!, [
        { type: m.CKA_SENSITIVE },
        { type: m.CKA_EXTRACTABLE },
        { type: m.CKA_ALWAYS_SENSITIVE },
        { type: m.CKA_NEVER_EXTRACTABLE },
      ]);
      expect(flags.map((attribute) => attribute.value![0])).toEqual([1, 0, 1, 1]);
      // Cannot be made extractable afterwards (CKA_EXTRACTABLE may only go from true to false).
      expect(() =>
        api.C_SetAttributeValue(session.session, kek!, [{ type: m.CKA_EXTRACTABLE, value: true }]),
      ).toThrow(/CKR_/);
    } finally {
      closeTokenSession(session);
    }
  });

  test('KEK is non-extractable: wrapping it out under an attacker-chosen key fails', () => {
    const session = rawSession(0);
    try {
      const { api, module: m } = session.library;
      const [kek] = findObjects(session, [
        { type: m.CKA_CLASS, value: m.CKO_SECRET_KEY },
        { type: m.CKA_LABEL, value: main.kek.label },
      ]);
      const wrappingKey = api.C_GenerateKey(session.session, { mechanism: m.CKM_AES_KEY_GEN }, [
        { type: m.CKA_CLASS, value: m.CKO_SECRET_KEY },
        { type: m.CKA_KEY_TYPE, value: m.CKK_AES },
        { type: m.CKA_VALUE_LEN, value: 32 },
        { type: m.CKA_TOKEN, value: false },
        { type: m.CKA_WRAP, value: true },
        { type: m.CKA_EXTRACTABLE, value: true },
        { type: m.CKA_SENSITIVE, value: false },
      ]);
      for (const mechanism of [m.CKM_AES_KEY_WRAP, m.CKM_AES_KEY_WRAP_PAD]) {
        expect(() =>
          api.C_WrapKey(session.session, { mechanism }, wrappingKey, kek!, Buffer.alloc(64)),
        ).toThrow(/CKR_KEY_UNEXTRACTABLE|CKR_KEY_NOT_WRAPPABLE/);
      }
      api.C_DestroyObject(session.session, wrappingKey);
    } finally {
      closeTokenSession(session);
    }
  });

  test('identity private key in the token is sensitive and non-extractable', () => {
    expect(main.identity.storage).toBe('token');
    const session = rawSession(0);
    try {
      const { api, module: m } = session.library;
      const [privateKey] = findObjects(session, [
        { type: m.CKA_CLASS, value: m.CKO_PRIVATE_KEY },
        { type: m.CKA_LABEL, value: 'coffer-identity' },
      ]);
      expect(() => api.C_GetAttributeValue(session.session, privateKey!, [{ type: m.CKA_VALUE }])).toThrow(
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
    } finally {
      closeTokenSession(session);
    }
  });

  test('an extractable key planted under the KEK label is refused (kek-not-protected)', async () => {
    const session = rawSession(4);
    try {
      const { api, module: m } = session.library;
      api.C_GenerateKey(session.session, { mechanism: m.CKM_AES_KEY_GEN }, [
        { type: m.CKA_CLASS, value: m.CKO_SECRET_KEY },
        { type: m.CKA_KEY_TYPE, value: m.CKK_AES },
        { type: m.CKA_VALUE_LEN, value: 32 },
        { type: m.CKA_TOKEN, value: true },
        { type: m.CKA_PRIVATE, value: true },
        { type: m.CKA_SENSITIVE, value: false },
        { type: m.CKA_EXTRACTABLE, value: true },
        { type: m.CKA_ENCRYPT, value: true },
        { type: m.CKA_DECRYPT, value: true },
        { type: m.CKA_LABEL, value: 'coffer-kek' },
        { type: m.CKA_ID, value: Buffer.alloc(16, 7) },
      ]);
    } finally {
      closeTokenSession(session);
    }
    const error = await expectHsmError(() => openPkcs11Keystore(options(4)), 'kek-not-protected');
    expect(error.message).toContain('extractable true');
  });
});

describe('init and open', () => {
  test('open on a token without a KEK fails (kek-not-found) and creates nothing', async () => {
    const before = objectCount(2);
    const error = await expectHsmError(() => openPkcs11Keystore(options(2)), 'kek-not-found');
    expect(error.message).toContain('coffer-kek');
    expect(objectCount(2)).toBe(before);
  });

  test('a failed open (wrong PIN) leaves the token untouched', async () => {
    const before = objectCount(0);
    await expectHsmError(
      () => openPkcs11Keystore(options(0, { pin: { env: secretInEnv('9999-wrong') } })),
      'wrong-pin',
    );
    expect(objectCount(0)).toBe(before);
  });

  test('init refuses to overwrite an existing KEK and identity; explicit overwrite replaces them', async () => {
    const first = await track(initPkcs11Keystore(options(3)));
    const blob = await first.seal(randomSecret(), 'share:k:1');
    const before = objectCount(3);
    const error = await expectHsmError(() => initPkcs11Keystore(options(3)), 'already-initialized');
    expect(error.message).toContain('overwrite');
    expect(objectCount(3)).toBe(before);
    // The original KEK still opens its blobs.
    const reopened = await track(openPkcs11Keystore(options(3)));
    expect(reopened.kek.id).toEqual(first.kek.id);
    await reopened.unseal(blob, 'share:k:1');
    // Refusal also when only the identity label is taken.
    await expectHsmError(
      () => initPkcs11Keystore(options(3, { kekLabel: 'coffer-kek-2' })),
      'already-initialized',
    );

    const replaced = await track(initPkcs11Keystore(options(3, { overwrite: true })));
    expect(replaced.kek.id).not.toEqual(first.kek.id);
    expect(objectCount(3)).toBe(before);
    await expectHsmError(() => replaced.unseal(blob, 'share:k:1'), 'wrong-kek');
  });

  test('identity fallback: sealed under the KEK in the token, reopened with the same public key', async () => {
    const keystore = await track(initPkcs11Keystore(options(1, { identityStorage: 'sealed' })));
    expect(keystore.identity.storage).toBe('sealed');
    const message = new TextEncoder().encode('audit checkpoint 42');
    expect(ed25519.verify(await keystore.identity.sign(message), message, keystore.identity.publicKey)).toBe(
      true,
    );

    const reopened = await track(openPkcs11Keystore(options(1)));
    expect(reopened.identity.storage).toBe('sealed');
    expect(reopened.identity.publicKey).toEqual(keystore.identity.publicKey);
    expect(ed25519.verify(await reopened.identity.sign(message), message, keystore.identity.publicKey)).toBe(
      true,
    );

    // What the token stores is a sealed blob bound to this KEK and the identity context.
    const session = rawSession(1);
    try {
      const { api, module: m } = session.library;
      const [object] = findObjects(session, [
        { type: m.CKA_CLASS, value: m.CKO_DATA },
        { type: m.CKA_LABEL, value: 'coffer-identity' },
      ]);
      const [value] = api.C_GetAttributeValue(session.session, object!, [{ type: m.CKA_VALUE }]);
      const info = inspectSealedBlob(new Uint8Array(value!.value!));
      expect(info.context).toBe(IDENTITY_CONTEXT);
      expect(info.kek.id).toEqual(keystore.kek.id);
    } finally {
      closeTokenSession(session);
    }
    expectNoSecrets(renderings([keystore, keystore.identity]), [set.tokens[1]!.pin]);
    expect(renderings(keystore.identity)).toContain('redacted');
  });

  test('identity in the token: public key stable across reopen, signatures verify with noble', async () => {
    const reopened = await track(openPkcs11Keystore(options(0)));
    expect(reopened.identity.storage).toBe('token');
    expect(reopened.identity.publicKey).toEqual(main.identity.publicKey);
    const message = randomSecret(200);
    expect(ed25519.verify(await reopened.identity.sign(message), message, main.identity.publicKey)).toBe(
      true,
    );
  });

  test('invalid labels are refused before the token is touched', async () => {
    await expectHsmError(() => initPkcs11Keystore(options(2, { kekLabel: ' padded' })), 'invalid-argument');
    await expectHsmError(
      () => initPkcs11Keystore(options(2, { kekLabel: 'same', identityLabel: 'same' })),
      'invalid-argument',
    );
  });
});
