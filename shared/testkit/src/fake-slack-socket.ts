import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

/** What the client answered to one envelope. */
export interface FakeSocketAck {
  envelope_id: string;
  payload?: unknown;
}

/** Slack's Socket Mode side of the fake: the WebSocket apps.connections.open hands out. */
export interface FakeSocketMode {
  /** Open connections that were sent `hello`. */
  connections(): number;
  /**
   * Sends an envelope (`events_api` with an event_callback body, or `interactive` with a
   * block_actions payload) on the newest connection and resolves with the client's ack.
   */
  deliver(type: 'events_api' | 'interactive', payload: unknown, opts?: { retryAttempt?: number; retryReason?: string; timeoutMs?: number }): Promise<FakeSocketAck>;
  /** Used by the fake's apps.connections.open. */
  nextUrl(): string;
  setPort(port: number): void;
  close(): Promise<void>;
}

/**
 * Serves Socket Mode on the fake's HTTP server: a `wss://…/link` style WebSocket that greets with
 * `hello`, sends envelopes `{ envelope_id, type, payload, accepts_response_payload, retry_attempt,
 * retry_reason }` and expects `{ envelope_id }` back, as Slack does.
 */
export function attachFakeSocketMode(server: Server): FakeSocketMode {
  const wss = new WebSocketServer({ noServer: true });
  const open: WebSocket[] = [];
  const waiting = new Map<string, (ack: FakeSocketAck) => void>();
  let port = 0;
  server.on('upgrade', (req, sock, head) => {
    if (!(req.url ?? '').startsWith('/link')) {
      sock.destroy();
      return;
    }
    wss.handleUpgrade(req, sock, head, (ws) => {
      open.push(ws);
      ws.on('message', (data) => {
        try {
          const msg = JSON.parse(String(data)) as FakeSocketAck;
          waiting.get(msg.envelope_id)?.(msg);
          waiting.delete(msg.envelope_id);
        } catch {
          // not an ack; ignore
        }
      });
      ws.on('close', () => open.splice(open.indexOf(ws), 1));
      // Slack pings every few seconds; the client reconnects if the server stays silent too long.
      const ping = setInterval(() => ws.ping(), 5_000);
      ping.unref();
      ws.on('close', () => clearInterval(ping));
      ws.send(JSON.stringify({ type: 'hello', num_connections: open.length, debug_info: { host: 'fake-applink', approximate_connection_time: 3600 }, connection_info: { app_id: 'A0TEST0001' } }));
    });
  });
  return {
    connections: () => open.length,
    deliver(type, payload, opts = {}) {
      const ws = open[open.length - 1];
      if (!ws) return Promise.reject(new Error('no Socket Mode connection'));
      const envelopeId = randomUUID();
      return new Promise<FakeSocketAck>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(envelopeId);
          reject(new Error(`no ack for envelope ${envelopeId}`));
        }, opts.timeoutMs ?? 5_000);
        waiting.set(envelopeId, (ack) => {
          clearTimeout(timer);
          resolve(ack);
        });
        ws.send(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: type === 'interactive', retry_attempt: opts.retryAttempt ?? 0, retry_reason: opts.retryReason ?? '' }));
      });
    },
    nextUrl: () => `ws://127.0.0.1:${port}/link/?ticket=${randomUUID()}&app_id=A0TEST0001`,
    setPort(p) {
      port = p;
    },
    async close() {
      for (const ws of [...open]) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
