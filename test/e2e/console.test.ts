/**
 * The operator console end to end: the JSON admin endpoints behind the API keys, and the page
 * in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) showing
 * sessions, a transcript, queues, approving a parked tool call and retrying a failed job.
 */
import { existsSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitFor, type FakeChatMessage, type FakeScript } from '@switchboard/testkit';
import { collectEvents, postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
const KEY = 'console-key-4f9a1c2e7b';
const OTHER_KEY = 'other-tenant-key-83d0a5';
const auth = (key = KEY) => ({ authorization: `Bearer ${key}` });
/** Transcripts are untrusted text: the console must show this, not run it. */
const XSS = '<img src=x onerror="window.__xss=1">hello console';

const text = (m: FakeChatMessage) => (typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text ?? '').join(''));

/** Greets, except when asked to use the tool: then calls `echo` and reports what it said. */
const script: FakeScript = (body) => {
  const lastUser = body.messages.map((m) => m.role).lastIndexOf('user');
  if (!text(body.messages[lastUser]!).includes('use the tool')) return { text: 'hello back' };
  const tool = body.messages.slice(lastUser).find((m) => m.role === 'tool');
  if (!tool) return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'launch codes' } }] };
  return { text: `tool said: ${text(tool)}` };
};

let t: TestSystem;
beforeAll(async () => {
  // KEY is also an operator's (the queues are every account's); OTHER_KEY is an ordinary tenant's.
  t = await startTestSystem({ env: { SWITCHBOARD_API_KEYS: `${KEY},${OTHER_KEY}`, SWITCHBOARD_ADMIN_KEYS: KEY, TOOLS_ASK: 'echo' }, model: { script } });
});
afterAll(async () => {
  await t?.stop();
});

const get = (path: string, key?: string) => fetch(`${t.url}${path}`, { headers: key ? auth(key) : {} });

async function replies(sessionId: string, count: number): Promise<string[]> {
  const events = await collectEvents(t.url, sessionId, (es) => es.filter((e) => e.event === 'reply').length >= count, { headers: auth(), timeoutMs: 20_000 });
  return events.filter((e) => e.event === 'reply').map((e) => (JSON.parse(e.data) as { text: string }).text);
}

async function approvalRequest(sessionId: string): Promise<{ id: string; tool: string }> {
  const events = await collectEvents(t.url, sessionId, (es) => es.some((e) => e.event === 'approval_request'), { headers: auth() });
  return JSON.parse(events.find((e) => e.event === 'approval_request')!.data) as { id: string; tool: string };
}

describe('admin API', () => {
  it('refuses requests without a valid key', async () => {
    for (const path of ['/v1/admin/sessions', '/v1/admin/approvals', '/v1/admin/queues']) {
      const res = await get(path);
      expect(res.status, path).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
      expect((await get(path, 'not-a-key')).status, path).toBe(401);
    }
    expect((await postJson(t.url, '/v1/admin/queues/turns/jobs/x/retry', {})).status).toBe(401);
  });

  it('lists the caller’s sessions with their transcript, and nothing of another key’s', async () => {
    await postJson(t.url, '/v1/sessions/admin-1/messages', { text: 'hi there' }, auth());
    expect(await replies('admin-1', 1)).toEqual(['hello back']);
    const { sessions } = (await (await get('/v1/admin/sessions', KEY)).json()) as { sessions: Array<{ id: string; chatId: string; lastActivityAt: string; messageCount: number }> };
    const mine = sessions.find((s) => s.chatId === 'admin-1');
    expect(mine).toMatchObject({ messageCount: 2 });
    expect(Date.now() - Date.parse(mine!.lastActivityAt)).toBeLessThan(60_000);
    // Newest activity first.
    await postJson(t.url, '/v1/sessions/admin-2/messages', { text: 'me too' }, auth());
    await replies('admin-2', 1);
    const after = (await (await get('/v1/admin/sessions', KEY)).json()) as { sessions: Array<{ chatId: string }> };
    expect(after.sessions.map((s) => s.chatId).filter((c) => c.startsWith('admin-'))).toEqual(['admin-2', 'admin-1']);

    const transcript = await get(`/v1/admin/sessions/${encodeURIComponent(mine!.id)}/transcript`, KEY);
    expect(transcript.headers.get('cache-control')).toBe('no-store');
    const body = (await transcript.json()) as { messages: Array<{ role: string; content: string }> };
    expect(body.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'hi there'],
      ['assistant', 'hello back'],
    ]);

    // Another key is another account: the session is neither listed nor readable.
    const other = (await (await get('/v1/admin/sessions', OTHER_KEY)).json()) as { sessions: unknown[] };
    expect(other.sessions).toEqual([]);
    expect((await get(`/v1/admin/sessions/${encodeURIComponent(mine!.id)}/transcript`, OTHER_KEY)).status).toBe(404);
  });

  it('shows and retries queue jobs to operators only: the queues hold every account’s jobs', async () => {
    for (const path of ['/v1/admin/queues', '/v1/admin/queues/turns/failed']) {
      const res = await get(path, OTHER_KEY);
      expect(res.status, path).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: 'forbidden' } });
      expect((await get(path, KEY)).status, path).toBe(200);
    }
    expect((await postJson(t.url, '/v1/admin/queues/turns/jobs/x/retry', {}, auth(OTHER_KEY))).status).toBe(403);
  });

  it('serves the page without a key, under a CSP that allows no inline or foreign script', async () => {
    const page = await get('/console/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await page.text()).toContain('id="api-key"');
    expect((await get('/console/console.js')).status).toBe(200);
  });

  it('rejects bad input with a JSON error', async () => {
    expect((await get('/v1/admin/sessions?limit=0', KEY)).status).toBe(400);
    expect((await get('/v1/admin/sessions/web%3Anope%3Anope/transcript', KEY)).status).toBe(404);
    expect((await get('/v1/admin/queues/no-such-queue/failed', KEY)).status).toBe(404);
    const tools = await postJson(t.url, '/v1/admin/queues/tools/jobs/any/retry', {}, auth());
    expect(tools.status).toBe(409);
    expect(await tools.json()).toMatchObject({ error: { code: 'conflict', message: expect.stringContaining('never retried') } });
    expect((await postJson(t.url, '/v1/admin/queues/turns/jobs/no-such-job/retry', {}, auth())).status).toBe(404);
  });
});

describe.skipIf(!HAS_CHROMIUM)(`console page in Chromium${HAS_CHROMIUM ? '' : ` [skipped: ${CHROMIUM} is not installed (apt-get install chromium)]`}`, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('refuses a wrong key and shows nothing', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${t.url}/console`);
      await page.fill('#api-key', 'wrong-key');
      await page.click('#connect');
      await page.locator('#status', { hasText: 'refused' }).waitFor();
      expect(await page.isHidden('#main')).toBe(true);
    } finally {
      await page.close();
    }
  });

  it('shows an ordinary key its own sessions without the queues', async () => {
    await postJson(t.url, '/v1/sessions/tenant-1/messages', { text: 'hi there' }, auth(OTHER_KEY));
    await collectEvents(t.url, 'tenant-1', (es) => es.some((e) => e.event === 'reply'), { headers: auth(OTHER_KEY) });
    const page = await browser.newPage();
    try {
      await page.goto(`${t.url}/console`);
      await page.fill('#api-key', OTHER_KEY);
      await page.click('#connect');
      await page.locator('#sessions tr', { hasText: 'tenant-1' }).waitFor();
      expect(await page.isHidden('#queues-section')).toBe(true);
    } finally {
      await page.close();
    }
  });

  it('shows sessions, transcripts and queues; approving resumes the parked turn; a failed job can be retried', async () => {
    // A conversation with history, then a turn parked on an approval.
    await postJson(t.url, '/v1/sessions/console-1/messages', { text: XSS }, auth());
    expect(await replies('console-1', 1)).toEqual(['hello back']);
    await postJson(t.url, '/v1/sessions/console-1/messages', { text: 'please use the tool' }, auth());
    const approval = await approvalRequest('console-1');
    expect(approval.tool).toBe('echo');

    // A queue with one failed job, which succeeds when retried.
    const connection = { url: inject('redisUrl') };
    const probe = new Queue('console-probe', { connection, prefix: t.prefix });
    let failNext = true;
    const worker = new Worker(
      'console-probe',
      async () => {
        if (failNext) {
          failNext = false;
          throw new Error('downstream unavailable');
        }
        return 'ok';
      },
      { connection, prefix: t.prefix },
    );
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    try {
      await probe.add('probe', { n: 1 }, { jobId: 'probe-1', attempts: 1 });
      await waitFor(async () => (await probe.getJobState('probe-1')) === 'failed');

      await page.goto(`${t.url}/console`);
      await page.fill('#api-key', KEY);
      await page.press('#api-key', 'Enter');
      const row = page.locator('#sessions tbody tr', { hasText: 'console-1' });
      await row.waitFor();
      expect(await row.locator('td').nth(4).textContent()).toBe('1'); // one pending approval

      await row.click();
      const transcript = page.locator('#transcript');
      await transcript.locator('li[data-role="assistant"]', { hasText: 'hello back' }).waitFor();
      expect(await transcript.locator('li[data-role="user"]').first().textContent()).toContain(XSS);
      expect(await page.evaluate('window.__xss')).toBeUndefined();

      // CONSOLE_SCREENSHOT=<file.png> keeps a picture of the page for a person to look at.
      if (process.env.CONSOLE_SCREENSHOT) await page.screenshot({ path: process.env.CONSOLE_SCREENSHOT, fullPage: true });
      // Approve in the UI: the same path as POST /v1/approvals/{id}, so the turn resumes.
      const item = page.locator(`#approvals li[data-approval="${approval.id}"]`);
      expect(await item.textContent()).toContain('launch codes');
      await item.locator('button.approve').click();
      expect(await replies('console-1', 2)).toEqual(['hello back', 'tool said: launch codes']);
      await page.click('#refresh');
      await item.waitFor({ state: 'detached' });
      await transcript.locator('li[data-role="assistant"]', { hasText: 'tool said: launch codes' }).waitFor();
      const { rows } = await t.system.db.query<{ approver: string; outcome: string }>(`SELECT approver, outcome FROM tool_audit WHERE session_id LIKE '%:console-1'`);
      expect(rows).toEqual([{ approver: expect.stringMatching(/^api:k/), outcome: 'ok' }]);

      // Queue depths, then the failed job retried from the page.
      const count = (queue: string, state: string) => page.locator(`#queues tr[data-queue="${queue}"] td[data-count="${state}"]`).textContent();
      await page.locator('#queues tr[data-queue="turns"]').waitFor();
      await waitFor(async () => Number(await count('tools', 'completed')) >= 1, { message: 'tools completed count' });
      expect(await count('console-probe', 'failed')).toBe('1');
      await page.click('#queues tr[data-queue="console-probe"] button.show-failed');
      const failed = page.locator('#failed-list li[data-job="probe-1"]');
      expect(await failed.textContent()).toContain('downstream unavailable');
      await failed.locator('button.retry').click();
      await waitFor(async () => (await probe.getJobState('probe-1')) === 'completed', { message: 'retried job completed' });
      await page.click('#refresh');
      await waitFor(async () => (await count('console-probe', 'failed')) === '0', { message: 'failed count back to 0' });

      // The key never appears in a URL the page requested.
      expect(requested.length).toBeGreaterThan(5);
      expect(requested.filter((u) => u.includes(KEY))).toEqual([]);
    } finally {
      await page.close();
      await worker.close();
      await probe.obliterate({ force: true });
      await probe.close();
    }
  }, 120_000);
});
