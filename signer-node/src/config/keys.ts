// The node's keys: the keystore (KEK + Ed25519 identity, from @coffer/hsm) and an X25519 key that
// peers encrypt point-to-point payloads to. The X25519 secret is sealed under the KEK in the data
// directory (a PKCS#11 identity key cannot be converted to X25519, so the node has a second key whose
// public half is pinned in every peer's configuration next to the identity key).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  initPkcs11Keystore,
  initSoftwareKeystore,
  type Keystore,
  openPkcs11Keystore,
  openSoftwareKeystore,
} from '@coffer/hsm';
import { x25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { NodeConfig } from './config.ts';

export const X25519_FILE = 'x25519.sealed';
const X25519_CONTEXT = 'node:x25519:v1';
const inspect = Symbol.for('nodejs.util.inspect.custom');

/** The X25519 secret held in memory while the node runs; prints redacted. */
export class EncryptionKey {
  readonly #secret: Uint8Array;
  readonly publicKey: Uint8Array;
  constructor(secret: Uint8Array) {
    this.#secret = secret;
    this.publicKey = x25519.getPublicKey(secret);
  }
  sharedSecret(peerPublic: Uint8Array): Uint8Array {
    return x25519.getSharedSecret(this.#secret, peerPublic);
  }
  wipe(): void {
    this.#secret.fill(0);
  }
  toJSON(): string {
    return `EncryptionKey(x25519, public ${bytesToHex(this.publicKey)}, secret <redacted>)`;
  }
  [inspect](): string {
    return this.toJSON();
  }
}

export type NodeKeys = { keystore: Keystore; encryption: EncryptionKey };

export function keystoreDir(config: NodeConfig): string {
  return join(config.dataDir, 'keystore');
}

/** `init`: creates the data directory, the KEK and identity, and the sealed X25519 key. Never overwrites. */
export async function initNodeKeys(
  config: NodeConfig,
): Promise<{ identityKey: string; encryptionKey: string }> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const x25519Path = join(config.dataDir, X25519_FILE);
  if (existsSync(x25519Path))
    throw new NodeKeyError(
      `${config.dataDir} is already initialised (${X25519_FILE} exists); refusing to overwrite`,
    );
  const kek = config.kek;
  const keystore =
    kek.backend === 'software'
      ? await initSoftwareKeystore({
          directory: keystoreDir(config),
          passphrase: kek.passphrase,
          ...(kek.argon2id ? { argon2id: kek.argon2id } : {}),
        })
      : await initPkcs11Keystore({ libraryPath: kek.libraryPath, tokenLabel: kek.tokenLabel, pin: kek.pin });
  try {
    const secret = x25519.utils.randomSecretKey();
    const blob = await keystore.seal(secret, X25519_CONTEXT);
    writeFileSync(x25519Path, blob, { mode: 0o600, flag: 'wx' });
    const out = {
      identityKey: bytesToHex(keystore.identity.publicKey),
      encryptionKey: bytesToHex(x25519.getPublicKey(secret)),
    };
    secret.fill(0);
    return out;
  } finally {
    await keystore.close();
  }
}

/** `start`: opens the keystore and unseals the X25519 key; any failure is a clear, non-destructive error. */
export async function openNodeKeys(config: NodeConfig): Promise<NodeKeys> {
  const x25519Path = join(config.dataDir, X25519_FILE);
  if (!existsSync(x25519Path))
    throw new NodeKeyError(`${config.dataDir} is not initialised (no ${X25519_FILE}); run init first`);
  const kek = config.kek;
  const keystore =
    kek.backend === 'software'
      ? await openSoftwareKeystore({ directory: keystoreDir(config), passphrase: kek.passphrase })
      : await openPkcs11Keystore({ libraryPath: kek.libraryPath, tokenLabel: kek.tokenLabel, pin: kek.pin });
  try {
    const secret = await keystore.unseal(new Uint8Array(readFileSync(x25519Path)), X25519_CONTEXT);
    const bytes = secret.expose();
    secret.wipe();
    if (bytes.length !== 32)
      throw new NodeKeyError(`${X25519_FILE} holds ${bytes.length} bytes, expected 32`);
    return { keystore, encryption: new EncryptionKey(bytes) };
  } catch (e) {
    await keystore.close();
    throw e;
  }
}

export class NodeKeyError extends Error {
  override readonly name = 'NodeKeyError';
}
