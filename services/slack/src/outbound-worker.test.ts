import { webApi } from '@slack/bolt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalAction } from '@switchboard/channels';
import { startFakeSlack, type FakeSlack } from '@switchboard/testkit';
import { classifySlackError, platformErrorCode, slackSender } from './outbound-worker.ts';

const TOKEN = 'xoxb-1-2-unit';
let slack: FakeSlack;
let client: webApi.WebClient;
const target = { account: 'T0TEST0001', chatId: 'C0CHAN0001' };

beforeAll(async () => {
  slack = await startFakeSlack({ token: TOKEN });
  client = new webApi.WebClient(TOKEN, { slackApiUrl: slack.apiUrl, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });
});
afterAll(async () => {
  await slack.close();
});

const failureOf = async (call: () => Promise<unknown>) => {
  try {
    await call();
  } catch (err) {
    return classifySlackError(err);
  }
  throw new Error('the call did not fail');
};

describe('classifySlackError (real Web API client errors)', () => {
  it('429 + Retry-After is a rate limit of that many seconds', async () => {
    slack.failNext('chat.postMessage', 1, { status: 429, retryAfterSeconds: 7 });
    expect(await failureOf(() => client.chat.postMessage({ channel: 'C0CHAN0001', text: 'x' }))).toEqual({ kind: 'rate_limited', retryAfterMs: 7000 });
  });

  it("an { ok: false } refusal is permanent, Slack's own failures are transient", async () => {
    slack.failNext('chat.postMessage', 1, { error: 'channel_not_found' });
    expect(await failureOf(() => client.chat.postMessage({ channel: 'C0CHAN0001', text: 'x' }))).toEqual({ kind: 'permanent', reason: 'channel_not_found' });
    slack.failNext('chat.postMessage', 1, { error: 'internal_error' });
    expect((await failureOf(() => client.chat.postMessage({ channel: 'C0CHAN0001', text: 'x' }))).kind).toBe('transient');
    slack.failNext('chat.postMessage', 1, { status: 503 });
    expect(await failureOf(() => client.chat.postMessage({ channel: 'C0CHAN0001', text: 'x' }))).toEqual({ kind: 'transient', reason: 'HTTP 503' });
  });

  it('an unreachable Slack is transient', async () => {
    const gone = new webApi.WebClient(TOKEN, { slackApiUrl: 'http://127.0.0.1:9/api/', retryConfig: { retries: 0 } });
    expect((await failureOf(() => gone.auth.test())).kind).toBe('transient');
  });
});

describe('slackSender', () => {
  const sender = () => slackSender(client);

  it('posts in the thread of a thread session', async () => {
    const ts = await sender().send({ ...target, threadId: '1700000000.000100' }, 'in thread', { index: 0, replyTo: [] });
    expect(slack.messages('C0CHAN0001', '1700000000.000100').map((m) => [m.ts, m.text])).toEqual([[ts, 'in thread']]);
  });

  it('does not post a part again when the answer to its post never came but Slack showed it', async () => {
    const impatient = new webApi.WebClient(TOKEN, { slackApiUrl: slack.apiUrl, rejectRateLimitedCalls: true, retryConfig: { retries: 0 }, timeout: 200 });
    const s = slackSender(impatient);
    for (const where of [{ ...target, chatId: 'C0DUPE0001' }, { ...target, chatId: 'C0DUPE0002', threadId: '1700000000.000200' }]) {
      slack.failNext('chat.postMessage', 1, { answerAfterMs: 600 });
      const ts = await s.send(where, 'the answer', { index: 0, replyTo: [], key: 'reply-1-0' });
      const shown = slack.messages(where.chatId);
      expect(shown.map((m) => [m.ts, m.text])).toEqual([[ts, 'the answer']]);
    }
    // A post Slack never saw (refused before it was carried out) is still an error to retry.
    slack.failNext('chat.postMessage', 1, { status: 503 });
    await expect(s.send({ ...target, chatId: 'C0DUPE0003' }, 'x', { index: 0, replyTo: [], key: 'reply-2-0' })).rejects.toMatchObject({ code: 'slack_webapi_http_error' });
    expect(slack.messages('C0DUPE0003')).toEqual([]);
  });

  it('says which edit failures mean the draft is gone (the outbound worker then posts the reply as a new message)', async () => {
    const s = sender();
    const err = await s.edit!(target, '1600000000.000001', 'final answer').then(() => undefined, (e: unknown) => e);
    expect(platformErrorCode(err)).toBe('message_not_found');
    expect(s.uneditable!(err)).toBe(true);
    expect(slack.messages('C0CHAN0001').some((m) => m.text === 'final answer')).toBe(false);
    const ts = await s.send(target, 'draft', { index: 0, replyTo: [] });
    slack.failNext('chat.update', 1, { error: 'channel_not_found' });
    const other = await s.edit!(target, ts!, 'x').then(() => undefined, (e: unknown) => e);
    expect(platformErrorCode(other)).toBe('channel_not_found');
    expect(s.uneditable!(other)).toBe(false);
    // The outbound worker takes a draft it could not edit down once the reply is out.
    await s.remove!(target, ts!);
    expect(slack.messages('C0CHAN0001').some((m) => m.ts === ts)).toBe(false);
  });

  it('approval prompts carry Approve/Deny buttons with our action ids and fit a section block', async () => {
    const id = `ap_${'a'.repeat(32)}`;
    await sender().sendApproval(target, { id, turnId: 't1', sessionKey: 'slack:T0TEST0001:C0CHAN0001', platform: 'slack', account: 'T0TEST0001', chatId: 'C0CHAN0001', tool: 'shell', arguments: { cmd: '<&>'.repeat(2000) } });
    const m = slack.messages('C0CHAN0001').at(-1)!;
    const blocks = m.blocks as Array<{ type: string; text?: { text: string }; elements?: Array<{ action_id: string }> }>;
    expect(blocks[0]!.text!.text.length).toBeLessThanOrEqual(3000);
    expect(blocks[0]!.text!.text).toContain('*shell*');
    expect(blocks[1]!.elements!.map((e) => e.action_id)).toEqual([approvalAction(id, 'approve'), approvalAction(id, 'deny')]);
  });
});
