// Strict binary reader/writer shared by the wire codec, payload codecs and KeyShare serialisation.
// Every variable-length field is length-prefixed; readers check exact lengths and name the field
// they were reading when they fail.

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class ByteWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  u8(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xff)
      throw new RangeError(`u8 out of range: ${value}`);
    return this.raw(Uint8Array.of(value));
  }
  u16(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff)
      throw new RangeError(`u16 out of range: ${value}`);
    return this.raw(Uint8Array.of(value >>> 8, value & 0xff));
  }
  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
      throw new RangeError(`u32 out of range: ${value}`);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value);
    return this.raw(b);
  }
  /** Fixed-length bytes: the reader must know the length. */
  raw(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.size += bytes.length;
    return this;
  }
  /** u32 length prefix then bytes. */
  bytes(bytes: Uint8Array): this {
    return this.u32(bytes.length).raw(bytes);
  }
  string(value: string): this {
    return this.bytes(encoder.encode(value));
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

export class ByteReader {
  private offset = 0;
  constructor(private readonly data: Uint8Array) {}

  private take(length: number, field: string): Uint8Array {
    if (this.offset + length > this.data.length)
      throw new DecodeError(`${field}: needs ${length} bytes, ${this.data.length - this.offset} left`);
    const out = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }
  u8(field: string): number {
    return this.take(1, field)[0]!;
  }
  u16(field: string): number {
    const b = this.take(2, field);
    return (b[0]! << 8) | b[1]!;
  }
  u32(field: string): number {
    const b = this.take(4, field);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }
  /** Fixed-length field; returns a copy so callers may keep it. */
  raw(length: number, field: string): Uint8Array {
    return Uint8Array.from(this.take(length, field));
  }
  /**
   * Fixed-length field as a view into the input (no copy): only for callers that own the input
   * buffer and never mutate it, such as a decoder working on its own copy.
   */
  view(length: number, field: string): Uint8Array {
    return this.take(length, field);
  }
  /** u32 length prefix, bounded by `maxLength`, optionally exact. */
  bytes(field: string, opts: { max: number; exact?: number }): Uint8Array {
    const length = this.u32(`${field}.length`);
    if (opts.exact !== undefined && length !== opts.exact)
      throw new DecodeError(`${field}: expected ${opts.exact} bytes, got ${length}`);
    if (length > opts.max) throw new DecodeError(`${field}: ${length} bytes exceeds limit ${opts.max}`);
    return this.raw(length, field);
  }
  string(field: string, max: number): string {
    const b = this.bytes(field, { max });
    try {
      return decoder.decode(b);
    } catch {
      throw new DecodeError(`${field}: not valid UTF-8`);
    }
  }
  /** Fails unless every byte was consumed: trailing bytes are never ignored. */
  end(field: string): void {
    if (this.offset !== this.data.length)
      throw new DecodeError(`${field}: ${this.data.length - this.offset} unexpected trailing bytes`);
  }
  get remaining(): number {
    return this.data.length - this.offset;
  }
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
