import { connect, type Socket } from 'node:net';

/** One backend message: its type letter and body. */
export interface BackendMessage {
  type: string;
  body: Buffer;
}

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'ascii');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

/** Frontend messages, built by hand so a test controls exactly what is sent and when. */
export const wire = {
  parse: (sql: string) => message('P', Buffer.concat([cstr(''), cstr(sql), int16(0)])),
  bind: () => message('B', Buffer.concat([cstr(''), cstr(''), int16(0), int16(0), int16(0)])),
  describePortal: () => message('D', Buffer.concat([Buffer.from('P'), cstr('')])),
  execute: () => message('E', Buffer.concat([cstr(''), int32(0)])),
  flush: () => message('H', Buffer.alloc(0)),
  sync: () => message('S', Buffer.alloc(0)),
  query: (sql: string) => message('Q', cstr(sql)),
};

/**
 * A raw Postgres wire-protocol connection for tests that need to control message timing, which
 * node-postgres does not expose.
 */
export class WireClient {
  readonly socket: Socket;
  readonly received: BackendMessage[] = [];
  #buffer = Buffer.alloc(0);
  #waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 5) {
        const length = this.#buffer.readInt32BE(1);
        if (this.#buffer.length < length + 1) break;
        this.received.push({ type: String.fromCharCode(this.#buffer[0]!), body: this.#buffer.subarray(5, length + 1) });
        this.#buffer = this.#buffer.subarray(length + 1);
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** Connects and completes the startup handshake. */
  static async open(port: number): Promise<WireClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new WireClient(socket);
    const params = Buffer.concat([cstr('user'), cstr('postgres'), cstr('database'), cstr('postgres'), cstr('')]);
    const body = Buffer.concat([int32(196608), params]);
    socket.write(Buffer.concat([int32(body.length + 4), body]));
    await client.waitFor('Z');
    return client;
  }

  send(...messages: Buffer[]): void {
    this.socket.write(Buffer.concat(messages));
  }

  /** Resolves with the first not-yet-consumed message of `type`, consuming everything up to it. */
  async waitFor(type: string, timeoutMs = 10_000): Promise<BackendMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.received.findIndex((m) => m.type === type);
      if (at !== -1) return this.received.splice(0, at + 1)[at]!;
      if (Date.now() > deadline) throw new Error(`no '${type}' message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Text of the first column of a DataRow body. */
  static firstColumn(row: BackendMessage): string {
    const length = row.body.readInt32BE(2);
    return row.body.subarray(6, 6 + length).toString('utf8');
  }

  /** Column names of a RowDescription body. */
  static columnNames(description: BackendMessage): string[] {
    const count = description.body.readInt16BE(0);
    const names: string[] = [];
    let at = 2;
    for (let i = 0; i < count; i++) {
      const end = description.body.indexOf(0, at);
      names.push(description.body.subarray(at, end).toString('utf8'));
      at = end + 1 + 18;
    }
    return names;
  }

  close(): void {
    this.socket.destroy();
  }
}
