// The SoftHSM development helper and token lookup across module re-initialisation: a keystore is found
// again by its token label after more tokens were added (slot ids are not stable; labels are), and the
// last close finalises the module so that a later open re-reads SOFTHSM2_CONF.
import { afterAll, expect, test } from 'vitest';
import { initPkcs11Keystore, openPkcs11Keystore, SOFTHSM_LIBRARY_PATH } from '../src/pkcs11.ts';
import { createSoftHsmToken } from '../src/softhsm.ts';
import { createTokens, expectHsmError, secretInEnv } from './fixtures.ts';

const set = createTokens(1);
afterAll(() => set.remove());

test('token found by label after more tokens were added and the module re-initialised', async () => {
  const first = set.tokens[0]!;
  const options = {
    libraryPath: SOFTHSM_LIBRARY_PATH,
    tokenLabel: first.label,
    pin: { env: secretInEnv(first.pin) },
  };
  const created = await initPkcs11Keystore(options);
  const blob = await created.seal(new Uint8Array([1, 2, 3]), 'share:k:1');
  await created.close();

  const added = [createSoftHsmToken({ conf: set.conf }), createSoftHsmToken({ conf: set.conf })];
  const reopened = await openPkcs11Keystore(options);
  try {
    expect(reopened.kek.id).toEqual(created.kek.id);
    expect((await reopened.unseal(blob, 'share:k:1')).expose()).toEqual(new Uint8Array([1, 2, 3]));
    // The tokens added while the module was finalised are visible now: C_Initialize re-read the directory.
    const other = await initPkcs11Keystore({
      libraryPath: SOFTHSM_LIBRARY_PATH,
      tokenLabel: added[1]!.label,
      pin: { env: secretInEnv(added[1]!.pin) },
    });
    expect(other.kek.id).not.toEqual(reopened.kek.id);
    await other.close();
  } finally {
    await reopened.close();
  }
});

test('helper refuses labels a PKCS#11 token cannot hold', () => {
  expect(() => createSoftHsmToken({ conf: set.conf, label: 'x'.repeat(33) })).toThrow(/at most 32/);
  expect(() => createSoftHsmToken({ conf: set.conf, label: ' leading space' })).toThrow(/printable/);
});

test('init with identityStorage "token" on SoftHSM 2.6 keeps the identity in the token', async () => {
  const token = createSoftHsmToken({ conf: set.conf });
  const keystore = await initPkcs11Keystore({
    libraryPath: SOFTHSM_LIBRARY_PATH,
    tokenLabel: token.label,
    pin: { env: secretInEnv(token.pin) },
    identityStorage: 'token',
  });
  try {
    expect(keystore.identity.storage).toBe('token');
  } finally {
    await keystore.close();
  }
  await expectHsmError(
    () =>
      initPkcs11Keystore({
        libraryPath: SOFTHSM_LIBRARY_PATH,
        tokenLabel: token.label,
        pin: { env: secretInEnv(token.pin) },
        identityStorage: 'elsewhere' as 'token',
      }),
    'invalid-argument',
  );
});
