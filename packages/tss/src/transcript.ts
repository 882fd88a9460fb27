// Unambiguous transcript hashing (DESIGN §3 item 2). Every item is length-prefixed and the whole
// hash is domain-separated by a tag, so two different sequences of items can never hash alike and
// no protocol can be confused with another. Never join strings with delimiters instead.
import { sha256 } from '#hash';
import { ByteWriter } from './codec/bytes.ts';

export type TranscriptItem = Uint8Array | string | number;

export class Transcript {
  private readonly writer = new ByteWriter();

  constructor(tag: string) {
    this.writer.string(`coffer/${tag}`);
  }

  /** Appends a labelled item: label and value are both length-prefixed. */
  append(label: string, value: TranscriptItem): this {
    this.writer.string(label);
    if (typeof value === 'string') this.writer.u8(1).string(value);
    else if (typeof value === 'number') this.writer.u8(2).u32(value);
    else this.writer.u8(3).bytes(value);
    return this;
  }

  /** Appends a list of byte strings with its count, so lists of different shape never collide. */
  appendList(label: string, values: readonly Uint8Array[]): this {
    this.writer.string(label).u32(values.length);
    for (const v of values) this.writer.bytes(v);
    return this;
  }

  digest(): Uint8Array {
    return sha256(this.writer.finish());
  }
}
