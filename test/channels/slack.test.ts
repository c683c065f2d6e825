/**
 * Slack-specific behaviour beyond the shared contract: signature edge cases, the url_verification
 * handshake, retries, threads, edits, bots, files, readiness (auth.test) and Socket Mode.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { slackSignatureHeaders, waitFor, type FakeScript } from '@switchboard/testkit';
import { blockActions, channelEvent, dmEvent, envelope, GROUP_CHANNEL, imOf, mentionTwin, SIGNING_SECRET, startSlackRig, type SlackRig } from './slack-rig.ts';

const rigs: SlackRig[] = [];
afterEach(async () => {
  while (rigs.length) await rigs.pop()!.close();
});
const start = async (opts: Parameters<typeof startSlackRig>[0] = {}) => {
  const r = await startSlackRig(opts);
  rigs.push(r);
  return r;
};
const ALICE = 'U0ALICE001';
const modelSaw = (r: SlackRig, text: string) => r.t.model.requests.some((req) => JSON.stringify(req.messages).includes(text));
const metric = async (r: SlackRig, name: string, outcome: string) =>
  Number(new RegExp(`${name}\\{platform="slack",outcome="${outcome}"\\} (\\d+)`).exec(await r.registry.metrics())?.[1] ?? 0);

describe('slack webhook', () => {
  // One rig for the tests that need nothing special (a system start costs seconds); they use
  // their own texts and count metric deltas.
  let shared: SlackRig;
  beforeAll(async () => {
    shared = await startSlackRig();
  });
  afterAll(async () => {
    await shared.close();
  });

  it('answers the url_verification challenge, signed only', async () => {
    const r = shared;
    const body = JSON.stringify({ token: 'Jhj5dZrVaK7ZwHHjRyZWjbDl', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P', type: 'url_verification' });
    const res = await r.post(body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
    expect((await r.post(body, { secret: null })).status).toBe(401);
  });

  it('refuses stale, future, unsigned and tampered deliveries with 401 and enqueues nothing', async () => {
    const r = shared;
    const before = await metric(r, 'switchboard_channel_updates_total', 'unauthorized');
    const now = Math.floor(Date.now() / 1000);
    const body = (text: string) => JSON.stringify(envelope(dmEvent(ALICE, text)));
    expect((await r.post(body('stale'), { timestampSec: now - 6 * 60 })).status).toBe(401);
    expect((await r.post(body('future'), { timestampSec: now + 6 * 60 })).status).toBe(401);
    expect((await r.post(body('unsigned'), { secret: null })).status).toBe(401);
    const signedFor = body('innocent');
    const res = await fetch(`${r.url}/webhooks/slack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...slackSignatureHeaders(SIGNING_SECRET, signedFor) },
      body: signedFor.replace('innocent', 'tampered'),
    });
    expect(res.status).toBe(401);
    expect(await metric(r, 'switchboard_channel_updates_total', 'unauthorized')).toBe(before + 4);
    await r.post(body('genuine'));
    await waitFor(() => r.slack.messages(imOf(ALICE)).length > 0);
    for (const t of ['stale', 'future', 'unsigned', 'tampered']) expect(modelSaw(r, t)).toBe(false);
  });

  it('a retry (X-Slack-Retry-Num) of a handled event and an app_mention twin are handled once', async () => {
    const r = shared;
    const before = await metric(r, 'switchboard_channel_updates_total', 'duplicate');
    const message = channelEvent(ALICE, `<@${r.slack.botUserId}> count me once`);
    const body = JSON.stringify(envelope(message));
    expect((await r.post(body)).status).toBe(200);
    expect((await r.post(body, { headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } })).status).toBe(200);
    expect((await r.post(JSON.stringify(envelope(mentionTwin(message))))).status).toBe(200);
    await waitFor(() => r.slack.messages(GROUP_CHANNEL).some((m) => m.text.includes('count me once')), { timeoutMs: 20_000 });
    expect(await metric(r, 'switchboard_channel_updates_total', 'duplicate')).toBe(before + 2);
    await r.post(JSON.stringify(envelope(dmEvent(ALICE, 'later'))));
    await waitFor(() => r.slack.messages(imOf(ALICE)).some((m) => m.text.includes('later')), { timeoutMs: 20_000 });
    expect(r.slack.messages(GROUP_CHANNEL).filter((m) => m.text.includes('count me once'))).toHaveLength(1);
  });

  it('a thread is its own session and is answered in the thread', async () => {
    const r = shared;
    const threadTs = '1700009999.000100';
    await r.post(JSON.stringify(envelope(channelEvent(ALICE, `<@${r.slack.botUserId}> in the thread`, { thread_ts: threadTs }))));
    await r.post(JSON.stringify(envelope(channelEvent(ALICE, `<@${r.slack.botUserId}> in the channel`))));
    await waitFor(() => r.slack.messages(GROUP_CHANNEL).filter((m) => /echo: in the/.test(m.text)).length === 2, { timeoutMs: 20_000 });
    const answers = (threadTs: string | null) => r.slack.messages(GROUP_CHANNEL, threadTs).map((m) => m.text).filter((t) => /echo: in the/.test(t));
    expect(answers(threadTs)).toEqual([expect.stringContaining('in the thread')]);
    expect(answers(null)).toEqual([expect.stringContaining('in the channel')]);
    const sessions = r.t.model.requests.map((req) => JSON.stringify(req.messages));
    expect(sessions.some((s) => s.includes('in the thread') && s.includes('in the channel'))).toBe(false);
  });

  it('edits: adding the mention gets an answer; editing an answered message does not answer again', async () => {
    const r = shared;
    const original = channelEvent(ALICE, 'forgot to mention');
    await r.post(JSON.stringify(envelope(original)));
    const edit = (prev: typeof original, text: string) =>
      JSON.stringify(
        envelope({
          type: 'message',
          subtype: 'message_changed',
          hidden: true,
          channel: prev.channel,
          channel_type: 'channel',
          ts: `${prev.ts.split('.')[0]}.999999`,
          event_ts: `${prev.ts.split('.')[0]}.999999`,
          message: { type: 'message', user: prev.user, text, ts: prev.ts, edited: { user: prev.user, ts: `${prev.ts.split('.')[0]}.999999` } },
          previous_message: { type: 'message', user: prev.user, text: prev.text, ts: prev.ts },
        }),
      );
    await r.post(edit(original, `<@${r.slack.botUserId}> remembered the mention`));
    await waitFor(() => r.slack.messages(GROUP_CHANNEL).some((m) => m.text.includes('remembered the mention')), { timeoutMs: 20_000 });
    expect(modelSaw(r, 'forgot to mention')).toBe(false);
    await r.post(edit({ ...original, text: `<@${r.slack.botUserId}> remembered the mention` }, `<@${r.slack.botUserId}> changed my mind`));
    await r.post(JSON.stringify(envelope(dmEvent(ALICE, 'flush'))));
    await waitFor(() => r.slack.messages(imOf(ALICE)).some((m) => m.text.includes('flush')), { timeoutMs: 20_000 });
    expect(modelSaw(r, 'changed my mind')).toBe(false);
  });

  it('ignores other bots and its own messages; files reach the model as attachments', async () => {
    const r = shared;
    const before = await metric(r, 'switchboard_channel_updates_total', 'ignored');
    await r.post(JSON.stringify(envelope(dmEvent(ALICE, 'from a bot', { bot_id: 'B0OTHER001', subtype: 'bot_message' }))));
    await r.post(JSON.stringify(envelope(dmEvent(r.slack.botUserId, 'from myself', { channel: imOf(ALICE), bot_id: r.slack.botId }))));
    await r.post(
      JSON.stringify(
        envelope(
          dmEvent(ALICE, 'see file', {
            subtype: 'file_share',
            // Served by the fake's file host (slack-files.test.ts covers downloads in depth).
            files: [r.slack.files.addFile('%PDF-1.4 not really', { name: 'report.pdf', mimetype: 'application/pdf' })],
          }),
        ),
      ),
    );
    await waitFor(() => r.slack.messages(imOf(ALICE)).some((m) => m.text.includes('see file')), { timeoutMs: 20_000 });
    expect(modelSaw(r, 'see file\\n[attached document \\"report.pdf\\" (application/pdf, 19 B)] (its content cannot be shown to you)')).toBe(true);
    expect(modelSaw(r, 'from a bot')).toBe(false);
    expect(modelSaw(r, 'from myself')).toBe(false);
    expect(await metric(r, 'switchboard_channel_updates_total', 'ignored')).toBe(before + 2);
  });

  it('keeps a sender’s order while a file of their earlier message is still downloading', async () => {
    const r = shared;
    const slowFile = r.slack.files.addFile('first notes', { name: 'notes.txt', mimetype: 'text/plain', delayMs: 1500 });
    const first = r.post(JSON.stringify(envelope(dmEvent(ALICE, 'ordered one', { subtype: 'file_share', files: [slowFile] }))));
    await new Promise((resolve) => setTimeout(resolve, 150));
    const second = r.post(JSON.stringify(envelope(dmEvent(ALICE, 'ordered two'))));
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    await waitFor(() => modelSaw(r, 'ordered two'), { timeoutMs: 20_000 });
    // The first request that saw either message saw the earlier one, before the later one if both.
    const asked = r.t.model.requests.map((req) => JSON.stringify(req.messages)).find((m) => m.includes('ordered one') || m.includes('ordered two'))!;
    expect(asked).toContain('ordered one');
    if (asked.includes('ordered two')) expect(asked.indexOf('ordered one')).toBeLessThan(asked.indexOf('ordered two'));
  });

  it('is not ready and holds deliveries back (503) until auth.test succeeds', async () => {
    const r = await start({ beforeService: (s) => s.failNext('auth.test', 1, { error: 'invalid_auth' }), waitForIdentity: false });
    expect(r.service.identity()).toBeUndefined();
    await expect(r.service.readiness.slack!()).rejects.toThrow(/invalid_auth/);
    expect((await r.post(JSON.stringify(envelope(dmEvent(ALICE, 'too early'))))).status).toBe(503);
    await waitFor(() => r.service.identity(), { timeoutMs: 5_000 });
    await r.service.readiness.slack!();
    expect((await r.post(JSON.stringify(envelope(dmEvent(ALICE, 'now ready'))))).status).toBe(200);
    await waitFor(() => r.slack.messages(imOf(ALICE)).some((m) => m.text.includes('now ready')), { timeoutMs: 20_000 });
  });
});

describe('slack approvals in a channel', () => {
  it('only an allowed user can answer; anyone else is told privately and the request stays open', async () => {
    const toolThenReport: FakeScript = (body) => {
      const tool = body.messages.find((m) => m.role === 'tool');
      if (!tool) return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'channel secret' } }] };
      return { text: `tool said: ${String(tool.content)}` };
    };
    const BOB = 'U0BOB00001';
    const r = await start({ env: { TOOLS_ASK: 'echo', SLACK_ALLOW_FROM: ALICE }, script: toolThenReport });
    await r.post(JSON.stringify(envelope(channelEvent(ALICE, `<@${r.slack.botUserId}> run the tool`))));
    const prompt = await waitFor(() => r.slack.messages(GROUP_CHANNEL).find((m) => JSON.stringify(m.blocks ?? []).includes('Approve')), { timeoutMs: 20_000 });
    const id = (choice: string) => JSON.stringify(prompt.blocks).match(new RegExp(`"action_id":"(ap:[^"]+:${choice})"`))![1]!;
    const press = (user: string, choice: string) =>
      r.post(new URLSearchParams({ payload: JSON.stringify(blockActions(user, GROUP_CHANNEL, prompt.ts, id(choice))) }).toString(), { contentType: 'application/x-www-form-urlencoded' });
    expect((await press(BOB, 'approve')).status).toBe(200);
    const told = await waitFor(() => r.slack.succeeded('chat.postEphemeral').find((c) => c.params.user === BOB));
    expect(String(told.params.text)).toMatch(/not allowed/);
    expect(r.slack.messages(GROUP_CHANNEL).some((m) => m.text.includes('tool said:'))).toBe(false);
    expect((await press(ALICE, 'approve')).status).toBe(200);
    await waitFor(() => r.slack.messages(GROUP_CHANNEL).some((m) => m.text.includes('tool said:') && m.text.includes('channel secret')), { timeoutMs: 20_000 });
    await waitFor(() => r.slack.messages(GROUP_CHANNEL).find((m) => m.ts === prompt.ts)!.text.startsWith('Approved *echo*'));
  });
});

describe('slack socket mode', () => {
  it('receives events over the WebSocket, acks each envelope, and replies through the Web API', async () => {
    const toolThenReport: FakeScript = (body) => {
      const tool = body.messages.find((m) => m.role === 'tool');
      if (!tool) return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'over the socket' } }] };
      return { text: `tool said: ${String(tool.content)}` };
    };
    const r = await start({ env: { TOOLS_ASK: 'echo' }, serviceEnv: { SLACK_APP_TOKEN: 'xapp-1-A0TEST0001-3333-testapptoken', SLACK_SIGNING_SECRET: '' }, script: toolThenReport });
    expect(r.service.mode).toBe('socket');
    await waitFor(() => r.slack.socket.connections() > 0);
    await waitFor(async () => (await r.service.readiness.slack!(), true));
    // No HTTP endpoint in Socket Mode.
    expect((await r.post(JSON.stringify(envelope(dmEvent(ALICE, 'over http'))))).status).toBe(404);
    const ack = await r.slack.socket.deliver('events_api', envelope(dmEvent(ALICE, 'over the socket please')));
    expect(ack.envelope_id).toBeTruthy();
    // Acked only once the message is on its lane (Bolt alone would ack before its listeners run).
    expect(await metric(r, 'switchboard_channel_updates_total', 'accepted')).toBe(1);
    const prompt = await waitFor(() => r.slack.messages(imOf(ALICE)).find((m) => JSON.stringify(m.blocks ?? []).includes('Approve')), { timeoutMs: 20_000 });
    const approveId = JSON.stringify(prompt.blocks).match(/"action_id":"(ap:[^"]+:approve)"/)![1]!;
    await r.slack.socket.deliver('interactive', blockActions(ALICE, imOf(ALICE), prompt.ts, approveId));
    await waitFor(() => r.slack.messages(imOf(ALICE)).some((m) => m.text.includes('tool said:')), { timeoutMs: 20_000 });
    expect(modelSaw(r, 'over the socket please')).toBe(true);
    expect(modelSaw(r, 'over http')).toBe(false);
  });
});

describe('slack in the one-process system', () => {
  it('mounts POST /webhooks/slack on the system port and reports auth.test in /readyz', async () => {
    const { startFakeSlack } = await import('@switchboard/testkit');
    const { startTestSystem } = await import('../support/system.ts');
    const { BOT_TOKEN } = await import('./slack-rig.ts');
    const slack = await startFakeSlack({ token: BOT_TOKEN });
    const t = await startTestSystem({
      env: { QUEUED_PLATFORMS: 'slack', SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.apiUrl, SLACK_DM_POLICY: 'open', SLACK_CHAT_INTERVAL_MS: '0' },
    });
    try {
      await waitFor(async () => (await fetch(`${t.url}/readyz`)).status === 200, { timeoutMs: 10_000 });
      const body = JSON.stringify(envelope(dmEvent(ALICE, 'through the system port')));
      const res = await fetch(`${t.url}/webhooks/slack`, { method: 'POST', headers: { 'content-type': 'application/json', ...slackSignatureHeaders(SIGNING_SECRET, body) }, body });
      expect(res.status).toBe(200);
      await waitFor(() => slack.messages(imOf(ALICE)).some((m) => m.text.includes('echo: through the system port')), { timeoutMs: 20_000 });
      expect(await (await fetch(`${t.url}/metrics`)).text()).toMatch(/switchboard_channel_updates_total\{platform="slack",outcome="accepted"\} 1/);
    } finally {
      await t.stop();
      await slack.close();
    }
  });
});
