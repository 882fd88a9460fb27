// The interface the signer node uses, whichever backend holds the key-encryption key: seal and unseal
// secrets (key shares) by envelope encryption, and sign with the node identity key.
import type { BackendName, KekReference } from './envelope.ts';
import type { NodeIdentity } from './identity.ts';
import type { SecretBytes } from './secret.ts';

export interface Keystore {
  readonly backend: BackendName;
  /** Label and id of the KEK; sealed blobs carry the same pair. */
  readonly kek: KekReference;
  readonly identity: NodeIdentity;
  /** Seals `plaintext` for `context` (for example "share:<keyId>:<index>"). */
  seal(plaintext: Uint8Array | SecretBytes, context: string): Promise<Uint8Array>;
  /** Unseals a blob sealed for exactly `context`; throws HsmError on any mismatch or alteration. */
  unseal(blob: Uint8Array, context: string): Promise<SecretBytes>;
  /** Releases the token session or wipes in-memory keys; the keystore is unusable afterwards. */
  close(): Promise<void>;
}

/** What init does when a KEK or identity already exists. */
export interface InitOptions {
  /** Replace an existing KEK and identity. Everything sealed under the old KEK becomes unreadable. */
  readonly overwrite?: boolean;
}
