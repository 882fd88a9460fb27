// Presignatures (DKLs23 §3: rounds 1–2 of Protocol 3.6 do not depend on the message). A
// presignature is bound to the wallet key, the pairwise setup and the derivation path it was made
// for (Groth–Shoup, ePrint 2021/1330: with additive derivation, a presignature usable under any
// child key lets an attacker forge with related keys), and it is single-use: consume() wipes it, and
// a second use is refused (DESIGN §3 item 7). The node persists `id` as consumed in the same
// transaction that releases the online message.
import { bytesToHex } from '@noble/hashes/utils.js';
import { ProtocolAbort } from '../errors.ts';
import type { PresignatureData } from './sign/round3.ts';

const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

export class Presignature {
  /** Hex session id of the presigning run: identical at every party, the key the node records. */
  readonly id: string;
  readonly index: number;
  readonly path: string;
  readonly keyId: string;
  readonly signers: readonly number[];
  #data: PresignatureData | undefined;

  constructor(data: PresignatureData) {
    this.id = bytesToHex(data.sid);
    this.index = data.ctx.share.index;
    this.path = data.ctx.path;
    this.keyId = bytesToHex(data.ctx.share.keyId);
    this.signers = [...data.ctx.signers];
    this.#data = data;
  }

  get consumed(): boolean {
    return this.#data === undefined;
  }

  /** Takes the secret state out exactly once, for the path it was made for. */
  consume(path: string): PresignatureData {
    const data = this.#data;
    if (!data) throw new ProtocolAbort('presignature-reused', [], `presignature ${this.id} was already used`);
    if (path !== data.ctx.path)
      throw new ProtocolAbort(
        'presignature-reused',
        [],
        `presignature ${this.id} is bound to path ${data.ctx.path}, refused for ${path}`,
      );
    this.#data = undefined;
    return data;
  }

  toJSON(): Record<string, unknown> {
    return {
      type: 'Presignature',
      id: this.id,
      index: this.index,
      path: this.path,
      consumed: this.consumed,
      secret: '<redacted>',
    };
  }

  [inspectSymbol](): string {
    return `Presignature { id: '${this.id}', index: ${this.index}, path: '${this.path}', consumed: ${this.consumed}, secret: <redacted> }`;
  }
}
