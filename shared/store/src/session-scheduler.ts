import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from '@switchboard/observability';

const READY_FOR_QUERY = 0x5a; // 'Z'
const TERMINATE = 0x58; // 'X'

function frontendMessage(type: string, body: Uint8Array): Uint8Array {
  const msg = new Uint8Array(5 + body.length);
  msg[0] = type.charCodeAt(0);
  new DataView(msg.buffer).setInt32(1, 4 + body.length);
  msg.set(body, 5);
  return msg;
}

const encoder = new TextEncoder();
/**
 * Executing a portal that does not exist raises an error, which aborts whatever transaction the
 * departed connection left open (implicit or explicit) instead of letting the Sync commit it.
 */
const ABORT_MESSAGES = [
  frontendMessage('E', new Uint8Array([...encoder.encode('switchboard_abort\0'), 0, 0, 0, 0])),
  frontendMessage('S', new Uint8Array(0)),
];
const ROLLBACK_MESSAGE = frontendMessage('Q', encoder.encode('ROLLBACK\0'));

/**
 * Finds the transaction status of the last ReadyForQuery in a stream of backend messages that
 * may be split anywhere across chunks. Skips message bodies without copying them.
 */
class ReadyForQueryScanner {
  lastStatus: string | undefined;
  #header = new Uint8Array(5);
  #headerLength = 0;
  #remaining = 0;
  #capture = false;

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining > 0) {
        if (this.#capture) {
          this.lastStatus = String.fromCharCode(chunk[i] as number);
          this.#capture = false;
        }
        const skip = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= skip;
        i += skip;
        continue;
      }
      this.#header[this.#headerLength++] = chunk[i++] as number;
      if (this.#headerLength === 5) {
        const view = new DataView(this.#header.buffer);
        this.#remaining = view.getInt32(1) - 4;
        this.#capture = this.#header[0] === READY_FOR_QUERY && this.#remaining > 0;
        this.#headerLength = 0;
      }
    }
  }
}

interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: Error) => void;
}

/**
 * Shares one PGlite session between many wire connections. Drop-in for pglite-socket's internal
 * query queue (its handler calls `enqueue`, `clearQueueForHandler`, `clearTransactionIfNeeded`).
 *
 * pglite-socket 0.2.17 hands the session to another connection between any two messages unless a
 * transaction is open, so two connections' Parse/Bind/Execute/Sync sequences can interleave and
 * bind each other's unnamed statement (electric-sql/pglite#1046). Here a connection keeps the
 * session from its first message until the backend reports ReadyForQuery with status idle: a whole
 * extended-protocol cycle, a whole transaction, or a whole COPY.
 */
export class SessionScheduler {
  readonly #db: PGlite;
  readonly #logger: Logger;
  #queue: QueuedMessage[] = [];
  /** Connection holding the session (mid-cycle or in a transaction), or null when it is free. */
  #owner: number | null = null;
  #pumping = false;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(db: PGlite, logger: Logger) {
    this.#db = db;
    this.#logger = logger;
  }

  /** Runs one frontend message for a connection; resolves with the response size in bytes. */
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ handlerId, message, onData, resolve, reject });
      void this.#pump();
    });
  }

  /** Messages waiting for a connection to get the session. */
  getQueueLength(): number {
    return this.#queue.length;
  }

  /** Drops the waiting messages of a connection that went away. */
  clearQueueForHandler(handlerId: number): void {
    const dropped = this.#queue.filter((q) => q.handlerId === handlerId);
    this.#queue = this.#queue.filter((q) => q.handlerId !== handlerId);
    for (const q of dropped) q.reject(new Error('connection closed'));
  }

  /**
   * Frees the session if a connection that went away held it: aborts and ends its protocol cycle
   * and rolls back its open transaction (as Postgres does when a backend loses its client), so
   * the next connection starts clean.
   */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    await this.#inFlight;
    if (this.#owner !== handlerId) return;
    await this.#db.runExclusive(async () => {
      for (const msg of ABORT_MESSAGES) await this.#db.execProtocolRaw(msg, { syncToFs: false });
      if (this.#db.isInTransaction()) await this.#db.execProtocolRaw(ROLLBACK_MESSAGE);
    });
    this.#logger.warn({ connection: handlerId }, 'connection closed while holding the session; rolled back');
    this.#owner = null;
    void this.#pump();
  }

  #next(): QueuedMessage | undefined {
    if (this.#owner === null) return this.#queue.shift();
    const at = this.#queue.findIndex((q) => q.handlerId === this.#owner);
    return at === -1 ? undefined : this.#queue.splice(at, 1)[0];
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let item = this.#next(); item; item = this.#next()) {
        const run = this.#run(item);
        this.#inFlight = run;
        await run;
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #run(item: QueuedMessage): Promise<void> {
    const scanner = new ReadyForQueryScanner();
    let bytes = 0;
    try {
      await this.#db.runExclusive(() =>
        this.#db.execProtocolRawStream(item.message, {
          onRawData: (data) => {
            bytes += data.length;
            scanner.push(data);
            item.onData(data);
          },
        }),
      );
    } catch (err) {
      // Not an SQL error (those are ErrorResponse messages): PGlite itself failed. The connection
      // errors out and its detach frees the session.
      this.#logger.error({ err, connection: item.handlerId }, 'embedded database failed to run a message');
      this.#owner = item.handlerId;
      item.reject(err as Error);
      return;
    }
    if (item.message[0] !== TERMINATE) {
      const status = scanner.lastStatus;
      // No ReadyForQuery yet: the connection is mid-cycle (Parse/Bind/…, or COPY) and keeps it.
      this.#owner = status === 'I' ? null : item.handlerId;
    }
    item.resolve(bytes);
  }
}
