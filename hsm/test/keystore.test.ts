// The behaviour both KEK backends owe the signer node, run against each (real SoftHSM2 token through
// PKCS#11; real keystore files): envelope round trips, tamper detection over every region of a sealed
// blob, context binding (no share swapping), KEK binding, identity signatures, and redaction.
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { inspectSealedBlob } from '../src/envelope.ts';
import type { HsmErrorCode } from '../src/errors.ts';
import type { Keystore } from '../src/keystore.ts';
import { initPkcs11Keystore, openPkcs11Keystore, SOFTHSM_LIBRARY_PATH } from '../src/pkcs11.ts';
import { initSoftwareKeystore, openSoftwareKeystore } from '../src/software.ts';
import {
  createTokens,
  expectHsmError,
  expectNoSecrets,
  FAST_ARGON2ID,
  randomSecret,
  renderings,
  secretInEnv,
  type TokenSet,
  temporaryDirectory,
} from './fixtures.ts';

interface Backend {
  readonly name: 'pkcs11' | 'software';
  /** Opens a fresh keystore: `main` is the node's, `other` has the same KEK label but another KEK. */
  init(which: 'main' | 'other'): Promise<Keystore>;
  reopen(): Promise<Keystore>;
  /** PINs / passphrases that must never be printed. */
  secrets(): string[];
  cleanup(): void;
}

function pkcs11Backend(): Backend {
  let set: TokenSet | undefined;
  const pinEnvs: string[] = [];
  const options = (index: number) => ({
    libraryPath: SOFTHSM_LIBRARY_PATH,
    tokenLabel: set!.tokens[index]!.label,
    pin: { env: pinEnvs[index]! },
  });
  return {
    name: 'pkcs11',
    async init(which) {
      if (set === undefined) {
        set = createTokens(2);
        for (const token of set.tokens) pinEnvs.push(secretInEnv(token.pin));
      }
      return initPkcs11Keystore(options(which === 'main' ? 0 : 1));
    },
    reopen: () => openPkcs11Keystore(options(0)),
    secrets: () => set!.tokens.flatMap((token) => [token.pin, token.soPin]),
    cleanup: () => set?.remove(),
  };
}

function softwareBackend(): Backend {
  const directories = [temporaryDirectory('keystore-main'), temporaryDirectory('keystore-other')];
  const passphrase = `correct horse ${Date.now()} battery staple`;
  const env = secretInEnv(passphrase);
  return {
    name: 'software',
    init: (which) =>
      initSoftwareKeystore({
        directory: directories[which === 'main' ? 0 : 1]!.path,
        passphrase: { env },
        argon2id: FAST_ARGON2ID,
      }),
    reopen: () => openSoftwareKeystore({ directory: directories[0]!.path, passphrase: { env } }),
    secrets: () => [passphrase],
    cleanup: () => {
      for (const directory of directories) directory.remove();
    },
  };
}

const backends: Record<string, Backend> = { pkcs11: pkcs11Backend(), software: softwareBackend() };
const opened: Keystore[] = [];

afterAll(async () => {
  for (const keystore of opened) await keystore.close();
  for (const backend of Object.values(backends)) backend.cleanup();
});

const flip = (blob: Uint8Array, index: number, mask = 0x01): Uint8Array => {
  const copy = blob.slice();
  copy[index]! ^= mask;
  return copy;
};

async function codeOf(action: () => Promise<unknown>): Promise<HsmErrorCode | 'no error'> {
  try {
    await action();
    return 'no error';
  } catch (error) {
    return (error as { code?: HsmErrorCode }).code ?? ('no code' as HsmErrorCode);
  }
}

describe.each(['pkcs11', 'software'])('%s backend', (name) => {
  const backend = backends[name]!;
  let keystore: Keystore;
  let other: Keystore;
  const share = randomSecret(96);
  const context = 'share:wallet-7f3a:2';
  let blob: Uint8Array;

  beforeAll(async () => {
    keystore = await backend.init('main');
    other = await backend.init('other');
    opened.push(keystore, other);
    blob = await keystore.seal(share, context);
  });

  test('seal then unseal returns the plaintext, for empty, small and large secrets', async () => {
    for (const plaintext of [new Uint8Array(0), randomSecret(1), randomSecret(32), randomSecret(70_000)]) {
      const sealed = await keystore.seal(plaintext, 'share:k:1');
      expect((await keystore.unseal(sealed, 'share:k:1')).expose()).toEqual(plaintext);
    }
    expect((await keystore.unseal(blob, context)).expose()).toEqual(share);
  });

  test('a blob survives closing and reopening the keystore (sealed shares outlive the process)', async () => {
    const reopened = await backend.reopen();
    opened.push(reopened);
    expect((await reopened.unseal(blob, context)).expose()).toEqual(share);
    expect(reopened.kek.id).toEqual(keystore.kek.id);
    expect(reopened.identity.publicKey).toEqual(keystore.identity.publicKey);
  });

  test('every seal draws a fresh data key and nonces (no two blobs alike for the same secret)', async () => {
    const again = await keystore.seal(share, context);
    const first = inspectSealedBlob(blob).regions;
    expect(Buffer.from(again).equals(Buffer.from(blob))).toBe(false);
    const slice = (bytes: Uint8Array, [start, end]: readonly [number, number]) =>
      Buffer.from(bytes.subarray(start, end));
    expect(slice(again, first.wrappedKey).equals(slice(blob, first.wrappedKey))).toBe(false);
    expect(slice(again, first.nonce).equals(slice(blob, first.nonce))).toBe(false);
  });

  test('the blob describes itself: backend, KEK label and id, context', () => {
    const info = inspectSealedBlob(blob);
    expect(info.version).toBe(1);
    expect(info.backend).toBe(name);
    expect(info.kek.label).toBe(keystore.kek.label);
    expect(info.kek.id).toEqual(keystore.kek.id);
    expect(info.context).toBe(context);
  });

  test('tampering: a flipped byte in any region of the blob is rejected with a typed error', async () => {
    const { regions } = inspectSealedBlob(blob);
    const authenticated: readonly HsmErrorCode[] = ['blob-authentication-failed'];
    const expectations: [keyof typeof regions, readonly HsmErrorCode[]][] = [
      [
        'header',
        ['malformed-blob', 'unsupported-blob-version', 'wrong-backend', 'wrong-kek', 'context-mismatch'],
      ],
      ['wrapNonce', authenticated],
      ['wrappedKey', authenticated],
      ['nonce', authenticated],
      ['ciphertext', authenticated],
      ['tag', authenticated],
    ];
    for (const [region, allowed] of expectations) {
      const [start, end] = regions[region];
      expect(end).toBeGreaterThan(start);
      // Every byte of the small regions; a spread of positions in the (large) ciphertext.
      const step = end - start > 64 ? Math.floor((end - start) / 32) : 1;
      for (let index = start; index < end; index += step) {
        for (const mask of [0x01, 0x80]) {
          const code = await codeOf(() => keystore.unseal(flip(blob, index, mask), context));
          expect(allowed, `${region} byte ${index} mask ${mask}: ${code}`).toContain(code);
        }
      }
    }
  });

  test('tampering: every length field, truncation and trailing bytes are rejected as malformed', async () => {
    const { regions } = inspectSealedBlob(blob);
    const lengthFields = [regions.header[1], regions.wrapNonce[1], regions.nonce[1], regions.nonce[1] + 3];
    for (const index of lengthFields) {
      expect(await codeOf(() => keystore.unseal(flip(blob, index), context))).toBe('malformed-blob');
    }
    for (const length of [0, 3, regions.header[1], blob.length - 1]) {
      expect(await codeOf(() => keystore.unseal(blob.subarray(0, length), context))).toBe('malformed-blob');
    }
    const extended = new Uint8Array(blob.length + 1);
    extended.set(blob);
    expect(await codeOf(() => keystore.unseal(extended, context))).toBe('malformed-blob');
  });

  test('share swapping: a blob unsealed under another context fails (context-mismatch)', async () => {
    const error = await expectHsmError(
      () => keystore.unseal(blob, 'share:wallet-7f3a:3'),
      'context-mismatch',
    );
    expect(error.message).toContain('share:wallet-7f3a:2');
  });

  test('share swapping: rewriting the stored context to the expected one breaks authentication', async () => {
    const forged = blob.slice();
    const { regions } = inspectSealedBlob(blob);
    const contextStart = regions.header[1] - context.length;
    forged.set(new TextEncoder().encode('share:wallet-7f3a:3'), contextStart);
    await expectHsmError(() => keystore.unseal(forged, 'share:wallet-7f3a:3'), 'blob-authentication-failed');
  });

  test('a blob sealed under another KEK (same label) is refused as wrong-kek', async () => {
    expect(other.kek.label).toBe(keystore.kek.label);
    const foreign = await other.seal(share, context);
    const error = await expectHsmError(() => keystore.unseal(foreign, context), 'wrong-kek');
    expect(error.message).toContain(Buffer.from(other.kek.id).toString('hex'));
  });

  test("a foreign blob relabelled with this KEK's id still fails: the wrap is authenticated by the KEK", async () => {
    const foreign = await other.seal(share, context);
    const { regions } = inspectSealedBlob(foreign);
    const idStart = regions.header[1] - context.length - 2 - 16;
    foreign.set(keystore.kek.id, idStart);
    expect(inspectSealedBlob(foreign).kek.id).toEqual(keystore.kek.id);
    await expectHsmError(() => keystore.unseal(foreign, context), 'blob-authentication-failed');
  });

  test('reserved contexts cannot be used to unseal the identity seed or forge one', async () => {
    await expectHsmError(() => keystore.seal(share, 'coffer:identity:ed25519'), 'invalid-argument');
    await expectHsmError(() => keystore.unseal(blob, 'coffer:identity:ed25519'), 'invalid-argument');
    await expectHsmError(() => keystore.seal(share, ''), 'invalid-argument');
  });

  test('identity key signs; noble ed25519.verify accepts the signature and rejects another message', async () => {
    const message = new TextEncoder().encode('session 9|round 2|from 1|to 3|payload');
    const signature = await keystore.identity.sign(message);
    expect(signature.length).toBe(64);
    expect(ed25519.verify(signature, message, keystore.identity.publicKey)).toBe(true);
    expect(ed25519.verify(signature, new TextEncoder().encode('other'), keystore.identity.publicKey)).toBe(
      false,
    );
    expect(ed25519.verify(signature, message, other.identity.publicKey)).toBe(false);
  });

  test('no secret in JSON, util.inspect, or error messages', async () => {
    const unsealed = await keystore.unseal(blob, context);
    const failures: unknown[] = [];
    for (const attempt of [
      () => keystore.unseal(flip(blob, blob.length - 1), context),
      () => keystore.unseal(blob, 'share:other:1'),
      () => keystore.unseal(blob.subarray(0, 40), context),
      async () => keystore.unseal(await other.seal(share, context), context),
    ]) {
      try {
        await attempt();
      } catch (error) {
        failures.push(error);
      }
    }
    expect(failures.length).toBe(4);
    const printed = [keystore, other, keystore.identity, unsealed, { unsealed }, ...failures]
      .map(renderings)
      .join('\n');
    expect(printed).toContain('<redacted>');
    expectNoSecrets(printed, [share, ...backend.secrets()]);
    expect(unsealed.expose()).toEqual(share);
  });

  test('a closed keystore refuses to seal, unseal or sign', async () => {
    const reopened = await backend.reopen();
    await reopened.close();
    await expectHsmError(() => reopened.seal(share, context), 'keystore-closed');
    await expectHsmError(() => reopened.unseal(blob, context), 'keystore-closed');
    await expectHsmError(() => reopened.identity.sign(new Uint8Array(1)), 'keystore-closed');
  });
});

test('a blob sealed by one backend is refused by the other (wrong-backend)', async () => {
  const [pkcs11, software] = [
    opened.find((k) => k.backend === 'pkcs11')!,
    opened.find((k) => k.backend === 'software')!,
  ];
  const fromToken = await pkcs11.seal(randomSecret(), 'share:k:1');
  await expectHsmError(() => software.unseal(fromToken, 'share:k:1'), 'wrong-backend');
  const fromSoftware = await software.seal(randomSecret(), 'share:k:1');
  await expectHsmError(() => pkcs11.unseal(fromSoftware, 'share:k:1'), 'wrong-backend');
});
