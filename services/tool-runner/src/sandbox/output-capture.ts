/**
 * Keeps the first `headBytes` and the last `tailBytes` of a stream and counts the rest, so a
 * command that prints gigabytes never holds more than `headBytes + tailBytes` (plus one chunk) in
 * memory. The tail matters: a failing build prints its error last.
 */
export class OutputCapture {
  private readonly headBytes: number;
  private readonly tailBytes: number;
  private readonly head: Buffer[] = [];
  private headLength = 0;
  private tail: Buffer[] = [];
  private tailLength = 0;
  /** Every byte seen, kept or not. */
  total = 0;

  constructor(headBytes: number, tailBytes: number) {
    this.headBytes = headBytes;
    this.tailBytes = tailBytes;
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headLength < this.headBytes) {
      const take = Math.min(this.headBytes - this.headLength, rest.length);
      // Copy: a subarray would pin the whole (possibly 64 KiB) chunk.
      this.head.push(Buffer.from(rest.subarray(0, take)));
      this.headLength += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0 || this.tailBytes === 0) return;
    if (rest.length >= this.tailBytes) {
      this.tail = [Buffer.from(rest.subarray(rest.length - this.tailBytes))];
      this.tailLength = this.tailBytes;
      return;
    }
    this.tail.push(Buffer.from(rest));
    this.tailLength += rest.length;
    while (this.tailLength > this.tailBytes) {
      const first = this.tail[0]!;
      const excess = this.tailLength - this.tailBytes;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailLength -= first.length;
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailLength -= excess;
      }
    }
  }

  /**
   * The kept text, in at most `maxBytes` of UTF-8 (default: all of it), cut in the middle; a marker
   * says how many bytes were dropped there.
   */
  text(maxBytes = Infinity): string {
    const head = Buffer.concat(this.head);
    const tail = Buffer.concat(this.tail);
    const omitted = this.total - head.length - tail.length;
    if (omitted <= 0 && head.length + tail.length <= maxBytes) return Buffer.concat([head, tail]).toString('utf8');
    if (omitted > 0 && head.length + tail.length + marker(omitted).length <= maxBytes) {
      return head.toString('utf8') + marker(omitted) + tail.toString('utf8');
    }
    // Nothing dropped yet: head and tail are one run of bytes, cut in its middle.
    const [first, last] = omitted <= 0 ? [Buffer.concat([head, tail]), Buffer.concat([head, tail])] : [head, tail];
    const room = maxBytes - marker(this.total).length;
    if (room <= 0) return '';
    const lastKeep = Math.min(last.length, Math.max(Math.floor(room / 2), room - first.length));
    let firstEnd = Math.min(first.length, room - lastKeep);
    while (firstEnd > 0 && (first[firstEnd]! & 0xc0) === 0x80) firstEnd--; // never half a character
    let lastStart = last.length - lastKeep;
    while (lastStart < last.length && (last[lastStart]! & 0xc0) === 0x80) lastStart++;
    const dropped = this.total - firstEnd - (last.length - lastStart);
    return first.subarray(0, firstEnd).toString('utf8') + marker(dropped) + last.subarray(lastStart).toString('utf8');
  }
}

function marker(omitted: number): string {
  return `\n[... ${omitted} bytes omitted ...]\n`;
}

/**
 * The kept text of two streams (stdout and stderr) in at most `maxBytes` together: each gets half,
 * and what one does not need goes to the other.
 */
export function fitTogether(a: OutputCapture, b: OutputCapture, maxBytes: number): [string, string] {
  const full: [string, string] = [a.text(), b.text()];
  const [aBytes, bBytes] = full.map((t) => Buffer.byteLength(t)) as [number, number];
  if (aBytes + bBytes <= maxBytes) return full;
  const half = Math.floor(maxBytes / 2);
  if (bBytes <= half) return [a.text(maxBytes - bBytes), full[1]];
  if (aBytes <= half) return [full[0], b.text(maxBytes - aBytes)];
  return [a.text(half), b.text(maxBytes - half)];
}
