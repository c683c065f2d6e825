import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { echoScript } from '@switchboard/testkit';
import { collectEvents, postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/** Schedules end to end: the real one-process system with a fake model. */
let t: TestSystem;
let redis: Redis;
let apiUrl: string;

beforeAll(async () => {
  t = await startTestSystem();
  redis = new Redis(inject('redisUrl'));
  apiUrl = t.url;
});

afterAll(async () => {
  redis?.disconnect();
  await t?.stop();
});

async function deliveredRuns(): Promise<number> {
  const runs = await redis.xrange(`${t.prefix}:schedules:runs:local`, '-', '+');
  return runs.filter(([, fields]) => fields[fields.indexOf('outcome') + 1] === 'delivered').length;
}

describe('/v1/schedules end to end', () => {
  it('delivers each run into a web session as a system event, answers it on SSE, and stops on DELETE', async () => {
    t.model.setScript(echoScript);
    const res = await postJson(apiUrl, '/v1/schedules', { sessionId: 'sched-e2e', message: 'time to stretch', everyMs: 1000 });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };

    const list = (await (await fetch(`${apiUrl}/v1/schedules`)).json()) as { schedules: Array<{ id: string; sessionId: string; everyMs: number }> };
    expect(list.schedules).toEqual([expect.objectContaining({ id, sessionId: 'sched-e2e', everyMs: 1000 })]);

    // Two answers to the system event on the session's SSE stream: it repeats.
    const events = await collectEvents(t.url, 'sched-e2e', (es) => es.filter((e) => e.event === 'reply').length >= 2, { timeoutMs: 15_000 });
    const replies = events.filter((e) => e.event === 'reply').map((e) => JSON.parse(e.data) as { text: string });
    expect(replies[0]!.text).toContain('[system event] time to stretch');
    // The model saw it as a system event in this session.
    const prompt = t.model.requests.at(-1)!.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
    expect(prompt).toContain('[system event] time to stretch');

    // Its runs are in the audit trail, newest first, with their outcome and session.
    const runsRes = await fetch(`${apiUrl}/v1/schedules/${id}/runs`);
    expect(runsRes.status).toBe(200);
    const { runs } = (await runsRes.json()) as { runs: Array<{ kind: string; source: string; outcome: string; sessionKey: string; firingMs: number }> };
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs[0]).toMatchObject({ kind: 'schedule', source: id, outcome: 'delivered', sessionKey: 'web:local:sched-e2e' });
    expect(runs[0]!.firingMs).toBeGreaterThan(runs[1]!.firingMs);
    expect((await fetch(`${apiUrl}/v1/runs?kind=schedule&source=${id}`)).status).toBe(200);
    expect((await fetch(`${apiUrl}/v1/schedules/sch_00000000000000000000/runs`)).status).toBe(404);

    expect((await fetch(`${apiUrl}/v1/schedules/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${apiUrl}/v1/schedules/${id}`, { method: 'DELETE' })).status).toBe(404);
    const afterDelete = await deliveredRuns();
    // Nothing fires any more: wait two intervals (at most one firing already in flight may land).
    await new Promise((r) => setTimeout(r, 2500));
    expect(await deliveredRuns()).toBeLessThanOrEqual(afterDelete + 1);
    expect(((await (await fetch(`${apiUrl}/v1/schedules`)).json()) as { schedules: unknown[] }).schedules).toEqual([]);
    // Deleted, its runs are still there to read.
    const after = await fetch(`${apiUrl}/v1/schedules/${id}/runs`);
    expect(after.status).toBe(200);
    expect(((await after.json()) as { runs: unknown[] }).runs.length).toBeGreaterThanOrEqual(2);
  });

  it('rejects bad input with a JSON 400', async () => {
    const res = await postJson(apiUrl, '/v1/schedules', { sessionId: 'sched-e2e', message: 'x', everyMs: 1000, cron: '* * * * *' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
  });
});

describe('the schedule tool', () => {
  it('lets the assistant schedule a reminder into its own conversation', async () => {
    t.model.setScript((body) => {
      const last = body.messages[body.messages.length - 1]!;
      const text = typeof last.content === 'string' ? last.content : '';
      if (last.role === 'user' && text === 'remind me to drink water') {
        return { toolCalls: [{ id: 'sch1', name: 'schedule', arguments: { action: 'create', message: 'drink water', at: new Date(Date.now() + 1500).toISOString() } }] };
      }
      if (last.role === 'tool') return { text: `done: ${text}` };
      if (text.startsWith('[system event] drink water')) return { text: 'Time to drink water!' };
      return { text: 'hm' };
    });
    await postJson(apiUrl, '/v1/sessions/tool-sched/messages', { text: 'remind me to drink water' });
    const events = await collectEvents(apiUrl, 'tool-sched', (es) => es.some((e) => e.event === 'reply' && e.data.includes('Time to drink water!')), { timeoutMs: 20_000 });
    const replies = events.filter((e) => e.event === 'reply').map((e) => (JSON.parse(e.data) as { text: string }).text);
    expect(replies[0]).toMatch(/^done: scheduled sch_[0-9a-f]+$/);
    expect(replies[1]).toBe('Time to drink water!');
  });

  it('runs an isolated schedule in a fresh session of its own and brings the answer back to the conversation', async () => {
    let runContext = '';
    t.model.setScript((body) => {
      const last = body.messages[body.messages.length - 1]!;
      const text = typeof last.content === 'string' ? last.content : '';
      if (last.role === 'user' && text === 'remind me about the oven, separately') {
        return { toolCalls: [{ id: 'iso1', name: 'schedule', arguments: { action: 'create', message: 'check the oven', at: new Date(Date.now() + 1500).toISOString(), isolated: true } }] };
      }
      if (last.role === 'tool') return { text: `done: ${text}` };
      if (text.startsWith('[system event] check the oven')) {
        runContext = JSON.stringify(body.messages);
        return { text: 'The oven!' };
      }
      return { text: 'hm' };
    });
    await postJson(apiUrl, '/v1/sessions/tool-iso/messages', { text: 'remind me about the oven, separately' });
    const events = await collectEvents(apiUrl, 'tool-iso', (es) => es.some((e) => e.event === 'reply' && e.data.includes('The oven!')), { timeoutMs: 20_000 });
    expect(events.filter((e) => e.event === 'reply').map((e) => (JSON.parse(e.data) as { text: string }).text)).toEqual([expect.stringMatching(/^done: scheduled sch_/), 'The oven!']);
    // The run did not see the conversation: it had a session of its own.
    expect(runContext).not.toContain('remind me about the oven');
  });
});
