import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis, LaneStore } from '@switchboard/lanes';
import { echoScript, lastUserMessages, waitFor } from '@switchboard/testkit';
import { postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

const running: TestSystem[] = [];
const redis = createRedis(inject('redisUrl'));
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

async function replies(t: TestSystem, sessionId: string): Promise<string[]> {
  const store = new LaneStore(redis, { prefix: t.prefix });
  return (await store.readEvents(`web:local:${sessionId}`, '0')).flatMap((e) => (e.event.type === 'reply' ? [e.event.text] : []));
}

describe('lane modes', () => {
  it('interrupt: a new message aborts the model call in flight; one reply answers both; the transcript stays consistent', async () => {
    const t = await startTestSystem({ env: { LANE_MODE: 'interrupt' } });
    running.push(t);
    t.model.setScript((body, i) => (lastUserMessages(body).join() === 'first' ? { hangMs: 8000 } : echoScript(body, i)));
    await postJson(t.url, '/v1/sessions/int1/messages', { text: 'first' });
    await waitFor(() => t.model.requests.length === 1);
    const sentSecond = Date.now();
    await postJson(t.url, '/v1/sessions/int1/messages', { text: 'second' });
    await waitFor(async () => (await replies(t, 'int1')).length === 1, { timeoutMs: 6000 });
    expect(Date.now() - sentSecond).toBeLessThan(5000);
    expect(await replies(t, 'int1')).toEqual(['echo: first\nsecond']);
    const { rows } = await t.system.db.query<{ role: string; content: string }>(`SELECT role, content FROM messages WHERE session_id = 'web:local:int1' ORDER BY seq`);
    expect(rows.map((r) => `${r.role}:${r.content}`)).toEqual(['user:first', 'user:second', 'assistant:echo: first\nsecond']);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain('switchboard_turns_total{outcome="interrupted"} 1');
  });

  it('followup: each message gets its own turn and reply, in order', async () => {
    const t = await startTestSystem({ env: { LANE_MODE: 'followup' } });
    running.push(t);
    t.model.setScript((body, i) => (lastUserMessages(body).includes('a') ? { hangMs: 800, then: echoScript(body, i) as never } : echoScript(body, i)));
    for (const text of ['a', 'b', 'c']) await postJson(t.url, '/v1/sessions/fol1/messages', { text });
    await waitFor(async () => (await replies(t, 'fol1')).length === 3, { timeoutMs: 10_000 });
    expect(await replies(t, 'fol1')).toEqual(['echo: a', 'echo: b', 'echo: c']);
  });
});
