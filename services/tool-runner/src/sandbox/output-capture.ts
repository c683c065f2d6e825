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

  /** The kept text; a marker says how many bytes in the middle were dropped. */
  text(): string {
    const head = Buffer.concat(this.head).toString('utf8');
    const omitted = this.total - this.headLength - this.tailLength;
    const tail = Buffer.concat(this.tail).toString('utf8');
    if (omitted <= 0) return head + tail;
    return `${head}\n[... ${omitted} bytes omitted ...]\n${tail}`;
  }
}
