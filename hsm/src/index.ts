// @coffer/hsm: key-encryption keys (envelope sealing of key shares) and node identity keys, with a
// PKCS#11 backend (SoftHSM2 in development, real HSMs in production) and a software backend
// (argon2id passphrase). See README.md for configuration and the threat model.
export type { BackendName, BlobRegions, KekReference, SealedBlobInfo, WrapAlgorithm } from './envelope.ts';
export { BLOB_VERSION, inspectSealedBlob, MAX_PLAINTEXT_BYTES } from './envelope.ts';
export type { HsmErrorCode } from './errors.ts';
export { HsmError, isHsmError } from './errors.ts';
export type { IdentityStorage, NodeIdentity } from './identity.ts';
export { IDENTITY_CONTEXT } from './identity.ts';
export type { InitOptions, Keystore } from './keystore.ts';
export type { Pkcs11InitOptions, Pkcs11KeystoreOptions } from './pkcs11.ts';
export { initPkcs11Keystore, openPkcs11Keystore, SOFTHSM_LIBRARY_PATH } from './pkcs11.ts';
export type { SecretSource } from './secret.ts';
export { SecretBytes } from './secret.ts';
export type { Argon2idParameters, SoftwareInitOptions, SoftwareKeystoreOptions } from './software.ts';
export {
  DEFAULT_ARGON2ID,
  initSoftwareKeystore,
  openSoftwareKeystore,
  SOFTWARE_KEYSTORE_FILE,
} from './software.ts';
