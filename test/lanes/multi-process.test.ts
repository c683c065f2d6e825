import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createRedis, LaneStore } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { startEmbeddedServer } from '@switchboard/store';
import { echoScript, lastUserMessages, startFakeOpenAI, uniquePrefix, waitFor, type FakeOpenAI } from '@switchboard/testkit';
import { loadWebConfig, startWebService, type WebService } from '@switchboard/web';
import { metricValue, startServiceProcess, type ServiceProcess } from '../support/processes.ts';

/*
 * The lane guarantees, proven with real processes: several agent-worker processes share one Redis
 * and one database (embedded PGlite served over the wire protocol); messages go in through the web
 * API; replies are read back from the session event streams.
 */

interface Cluster {
  prefix: string;
  web: WebService;
  workers: ServiceProcess[];
  store: LaneStore;
  workerEnv: Record<string, string>;
  stop(): Promise<void>;
}

let model: FakeOpenAI;
let db: { url: string; close(): Promise<void> };
let dataDir: string;
let sql: pg.Pool;

beforeAll(async () => {
  model = await startFakeOpenAI();
  dataDir = await mkdtemp(join(tmpdir(), 'sb-lanes-'));
  db = await startEmbeddedServer({ dataDir, port: 0, maxConnections: 64 });
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await sql?.end();
  await db?.close();
  await model?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function startCluster(workerCount: number, extraEnv: Record<string, string> = {}): Promise<Cluster> {
  const prefix = uniquePrefix('mp');
  const redisUrl = inject('redisUrl');
  const workerEnv = {
    REDIS_URL: redisUrl,
    DATABASE_URL: db.url,
    SWITCHBOARD_PREFIX: prefix,
    OPENAI_BASE_URL: model.url,
    OPENAI_API_KEY: 'test',
    LLM_MODEL: 'fake-model',
    LLM_MAX_RETRIES: '0',
    TURN_LEASE_MS: '2000',
    TURN_CONCURRENCY: '40',
    ...extraEnv,
  };
  const workers = await Promise.all(Array.from({ length: workerCount }, () => startServiceProcess('agent-worker', workerEnv)));
  const logger = createLogger({ service: 'test-web', level: 'silent' });
  const web = await startWebService({
    config: loadWebConfig({ PORT: '0', HOST: '127.0.0.1', SWITCHBOARD_PREFIX: prefix, REDIS_URL: redisUrl }),
    logger,
    registry: createRegistry({ defaultMetrics: false }),
    redisUrl,
  });
  const redis = createRedis(redisUrl);
  return {
    prefix,
    web,
    workers,
    store: new LaneStore(redis, { prefix }),
    workerEnv,
    async stop() {
      await Promise.all(workers.map((w) => w.kill('SIGKILL')));
      await web.close();
      redis.disconnect();
    },
  };
}

async function send(c: Cluster, sessionId: string, text: string, idempotencyKey?: string): Promise<string> {
  const res = await fetch(`${c.web.url}/v1/sessions/${sessionId}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text, ...(idempotencyKey ? { idempotencyKey } : {}) }),
  });
  if (res.status !== 202) throw new Error(`send failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { messageId: string }).messageId;
}

interface Reply {
  text: string;
  inReplyTo: string[];
  atMs: number;
}

async function replies(c: Cluster, sessionId: string): Promise<Reply[]> {
  const events = await c.store.readEvents(`web:local:${sessionId}`, '0', 100_000);
  return events.flatMap((e) => (e.event.type === 'reply' ? [{ text: e.event.text, inReplyTo: e.event.inReplyTo, atMs: Number(e.id.split('-')[0]) }] : []));
}

/** The user texts a sequence of echo replies answered, in reply order. */
function echoed(rs: Reply[]): string[] {
  return rs.flatMap((r) => r.text.replace(/^echo: /, '').split('\n'));
}

async function sendAll(c: Cluster, sessions: string[], perSession: number): Promise<Map<string, string[]>> {
  const ids = new Map<string, string[]>();
  await Promise.all(
    sessions.map(async (s) => {
      const list: string[] = [];
      ids.set(s, list);
      for (let i = 0; i < perSession; i++) list.push(await send(c, s, `${s}-m${i}`));
    }),
  );
  return ids;
}

async function expectExactlyOnceInOrder(c: Cluster, sessions: string[], perSession: number, ids: Map<string, string[]>, timeoutMs: number) {
  await waitFor(
    async () => {
      for (const s of sessions) if (echoed(await replies(c, s)).length < perSession) return false;
      return true;
    },
    { timeoutMs, intervalMs: 250, message: 'every message answered' },
  );
  for (const s of sessions) {
    const rs = await replies(c, s);
    expect(echoed(rs)).toEqual(Array.from({ length: perSession }, (_, i) => `${s}-m${i}`));
    expect(rs.flatMap((r) => r.inReplyTo)).toEqual(ids.get(s));
  }
  // The transcripts agree: every user message stored once, in order.
  const { rows } = await sql.query<{ session_id: string; content: string }>(
    `SELECT session_id, content FROM messages WHERE role = 'user' AND session_id = ANY($1) ORDER BY session_id, seq`,
    [sessions.map((s) => `web:local:${s}`)],
  );
  const bySession = new Map<string, string[]>();
  for (const r of rows) bySession.set(r.session_id, [...(bySession.get(r.session_id) ?? []), r.content]);
  for (const s of sessions) expect(bySession.get(`web:local:${s}`)).toEqual(Array.from({ length: perSession }, (_, i) => `${s}-m${i}`));
}

describe('three agent-worker processes', () => {
  let c: Cluster;
  beforeAll(async () => {
    model.setScript(echoScript);
    model.setLatencyMs(0);
    c = await startCluster(3);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('answers 200 sessions x 20 concurrent messages exactly once and in order', async () => {
    model.setScript(echoScript);
    const sessions = Array.from({ length: 200 }, (_, i) => `load${i}`);
    const ids = await sendAll(c, sessions, 20);
    await expectExactlyOnceInOrder(c, sessions, 20, ids, 200_000);
    const turnsPerWorker = await Promise.all(c.workers.map(async (w) => metricValue(await w.metrics(), 'switchboard_turns_total{outcome="ok"}')));
    // Work was spread over the processes, not done by one.
    expect(turnsPerWorker.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  }, 240_000);

  it('handles the same update delivered twice once', async () => {
    model.setScript(echoScript);
    const a = await send(c, 'redeliver1', 'pay the bill', 'update-42');
    const b = await send(c, 'redeliver1', 'pay the bill', 'update-42');
    expect(b).toBe(a);
    await send(c, 'redeliver1', 'after');
    await waitFor(async () => echoed(await replies(c, 'redeliver1')).includes('after'));
    expect(echoed(await replies(c, 'redeliver1'))).toEqual(['pay the bill', 'after']);
  });

  it('a session whose model call takes seconds does not delay the others', async () => {
    model.setScript((body, i) => (lastUserMessages(body).some((t) => t.startsWith('slow')) ? { hangMs: 4000, then: echoScript(body, i) as never } : echoScript(body, i)));
    const started = Date.now();
    await send(c, 'slow1', 'slow question');
    const others = Array.from({ length: 30 }, (_, i) => `quick${i}`);
    await Promise.all(others.map((s) => send(c, s, 'quick question')));
    await waitFor(async () => (await Promise.all(others.map((s) => replies(c, s)))).every((r) => r.length === 1), { timeoutMs: 10_000 });
    const quickDone = Date.now();
    expect(quickDone - started).toBeLessThan(3000);
    expect(await replies(c, 'slow1')).toHaveLength(0);
    await waitFor(async () => (await replies(c, 'slow1')).length === 1, { timeoutMs: 15_000 });
  });

  it('collects messages sent during a turn into the next turn, in order', async () => {
    model.setScript((body, i) => (lastUserMessages(body).includes('hold') ? { hangMs: 1500, then: echoScript(body, i) as never } : echoScript(body, i)));
    await send(c, 'collect1', 'hold');
    await waitFor(async () => (await c.store.readEvents('web:local:collect1', '0')).some((e) => e.event.type === 'turn_started'));
    for (const t of ['second', 'third', 'fourth']) await send(c, 'collect1', t);
    await waitFor(async () => (await replies(c, 'collect1')).length === 2, { timeoutMs: 15_000 });
    expect((await replies(c, 'collect1')).map((r) => r.text)).toEqual(['echo: hold', 'echo: second\nthird\nfourth']);
  });

  it('loses nothing and answers once when a worker is SIGKILLed mid-turn', async () => {
    model.setScript(echoScript);
    model.setLatencyMs(150);
    const sessions = Array.from({ length: 60 }, (_, i) => `kill${i}`);
    const sending = sendAll(c, sessions, 10);
    // Kill once turns are demonstrably running on every worker.
    await waitFor(async () => (await Promise.all(sessions.map((s) => replies(c, s)))).flat().length >= 40, { timeoutMs: 30_000 });
    await c.workers[0]!.kill('SIGKILL');
    const ids = await sending;
    await expectExactlyOnceInOrder(c, sessions, 10, ids, 90_000);
    // The killed worker really was mid-turn: its batches were taken over by the survivors.
    const resumed = await Promise.all(c.workers.slice(1).map(async (w) => metricValue(await w.metrics(), 'switchboard_turns_resumed_total')));
    expect(resumed.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    model.setLatencyMs(0);
  }, 150_000);

  it('a worker stopped with SIGTERM finishes its turns, exits cleanly and loses nothing', async () => {
    model.setScript(echoScript);
    model.setLatencyMs(300);
    const sessions = Array.from({ length: 30 }, (_, i) => `term${i}`);
    const sending = sendAll(c, sessions, 5);
    await waitFor(async () => (await Promise.all(sessions.map((s) => replies(c, s)))).flat().length >= 10, { timeoutMs: 30_000 });
    const victim = c.workers[1]!;
    const exit = new Promise<number | null>((resolve) => victim.child.once('exit', (code) => resolve(code)));
    victim.child.kill('SIGTERM');
    expect(await exit).toBe(0);
    const ids = await sending;
    await expectExactlyOnceInOrder(c, sessions, 5, ids, 60_000);
    model.setLatencyMs(0);
  });
});

describe('a stalled worker (alive but silent past its lease)', () => {
  it('is fenced off at commit: the session gets one reply and one transcript', async () => {
    model.setScript(echoScript);
    model.setLatencyMs(800);
    const c = await startCluster(1);
    try {
      const [a] = c.workers;
      await send(c, 'stall1', 'are you there');
      await waitFor(async () => (await c.store.readEvents('web:local:stall1', '0')).some((e) => e.event.type === 'turn_started'));
      a!.child.kill('SIGSTOP');
      const b = await startServiceProcess('agent-worker', c.workerEnv);
      c.workers.push(b);
      // B takes the turn over once A's lease lapses, and answers.
      await waitFor(async () => (await replies(c, 'stall1')).length === 1, { timeoutMs: 20_000 });
      a!.child.kill('SIGCONT');
      await waitFor(async () => metricValue(await a!.metrics(), 'switchboard_turn_fenced_total') === 1, { timeoutMs: 10_000 });
      await send(c, 'stall1', 'still there');
      await waitFor(async () => (await replies(c, 'stall1')).length === 2, { timeoutMs: 10_000 });
      expect(echoed(await replies(c, 'stall1'))).toEqual(['are you there', 'still there']);
      const { rows } = await sql.query<{ role: string; content: string }>(`SELECT role, content FROM messages WHERE session_id = 'web:local:stall1' ORDER BY seq`);
      expect(rows.map((r) => `${r.role}:${r.content}`)).toEqual(['user:are you there', 'assistant:echo: are you there', 'user:still there', 'assistant:echo: still there']);
    } finally {
      model.setLatencyMs(0);
      await c.stop();
    }
  });
});
