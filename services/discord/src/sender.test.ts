import { describe, expect, it } from 'vitest';
import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';
import { approvalAction, parseApprovalAction } from '@switchboard/channels';
import { loadDiscordConfig } from './config.ts';
import { inboundId } from './normalize.ts';
import { approvalMessage, DISCORD_MESSAGE_LIMIT, renderDiscordParts } from './render.ts';
import { classifyDiscordError, discordDraftSurface, discordSender, nonceOf } from './sender.ts';

const BOT_ID = '111222333444555666';

function recordingRest() {
  const calls: Array<{ method: string; route: string; body: unknown }> = [];
  let next = 100;
  return {
    calls,
    rest: {
      post: async (route: string, o?: { body?: unknown }) => {
        calls.push({ method: 'POST', route, body: o?.body });
        return { id: String((next += 1)) };
      },
      patch: async (route: string, o?: { body?: unknown }) => {
        calls.push({ method: 'PATCH', route, body: o?.body });
        return {};
      },
      delete: async (route: string) => {
        calls.push({ method: 'DELETE', route, body: undefined });
        return undefined;
      },
    } as never,
  };
}

describe('discordDraftSurface', () => {
  it("gives each turn's draft its own nonce, so two drafts that begin alike are two messages", async () => {
    const { rest, calls } = recordingRest();
    const surface = discordDraftSurface(rest);
    const target = { account: BOT_ID, chatId: '800' };
    await surface.post(target, 'Sure …', { replyTo: [], turnId: 't1' });
    await surface.post(target, 'Sure …', { replyTo: [], turnId: 't2' });
    await surface.post(target, 'Sure … more', { replyTo: [], turnId: 't2' }); // the same turn's post tried again
    const nonces = calls.map((c) => (c.body as { nonce: string }).nonce);
    expect(nonces[0]).not.toBe(nonces[1]);
    expect(nonces[2]).toBe(nonces[1]);
  });

  it("quotes the turn's own last message, whatever was said in the channel since", async () => {
    const { rest, calls } = recordingRest();
    const surface = discordDraftSurface(rest, BOT_ID);
    await surface.post({ account: BOT_ID, chatId: '800' }, 'Sure …', { replyTo: [`dc-${BOT_ID}-111`, `dc-${BOT_ID}-222`], turnId: 't1' });
    await surface.post({ account: BOT_ID, chatId: '800' }, 'Sure …', { replyTo: [], turnId: 't2' });
    const refs = calls.map((c) => (c.body as { message_reference?: { message_id: string } }).message_reference?.message_id);
    expect(refs).toEqual(['222', undefined]);
  });

  it('deletes a draft posted too late', async () => {
    const { rest, calls } = recordingRest();
    await discordDraftSurface(rest).remove!({ account: BOT_ID, chatId: '800' }, '123');
    expect(calls).toEqual([{ method: 'DELETE', route: '/channels/800/messages/123', body: undefined }]);
  });
});

describe('discordSender', () => {
  it('replies to the asker in the thread, pings nobody, and makes a resend idempotent with a nonce', async () => {
    const { rest, calls } = recordingRest();
    const sender = discordSender(rest, BOT_ID);
    const id = await sender.send({ account: BOT_ID, chatId: '800', threadId: '900' }, 'hi @everyone', { index: 0, replyTo: [inboundId(BOT_ID, '55')], key: 'reply-t1-0' });
    expect(id).toBe('101');
    expect(calls[0]).toEqual({
      method: 'POST',
      route: '/channels/900/messages',
      body: { content: 'hi @everyone', allowed_mentions: { parse: [] }, message_reference: { message_id: '55', fail_if_not_exists: false }, nonce: nonceOf('reply-t1-0'), enforce_nonce: true },
    });
    expect(nonceOf('reply-t1-0')).toHaveLength(25);
    expect(nonceOf('reply-t1-0')).not.toBe(nonceOf('reply-t1-1'));
  });

  it('shows an approval with Approve/Deny buttons whose custom_id the button handler parses', async () => {
    const { rest, calls } = recordingRest();
    const notice = { id: `ap_${'a'.repeat(32)}`, turnId: 't', sessionKey: 's', platform: 'discord', account: BOT_ID, chatId: '800', tool: 'shell', arguments: { cmd: 'echo ```x```' } };
    await discordSender(rest, BOT_ID).sendApproval({ account: BOT_ID, chatId: '800' }, notice);
    const body = calls[0]!.body as ReturnType<typeof approvalMessage>;
    expect(body.content).toContain('`shell`');
    // The arguments cannot close the code fence early.
    expect(body.content.match(/```/g)).toHaveLength(2);
    const buttons = (body.components[0] as { components: Array<{ custom_id: string; style: number }> }).components;
    expect(buttons.map((b) => parseApprovalAction(b.custom_id))).toEqual([
      { id: notice.id, choice: 'approve' },
      { id: notice.id, choice: 'deny' },
    ]);
    expect(buttons[0]!.custom_id).toBe(approvalAction(notice.id, 'approve'));
  });
});

describe('renderDiscordParts', () => {
  it('passes markdown through and splits at 2000 without breaking a code block', () => {
    expect(renderDiscordParts('**bold** _it_ `code` [link](https://e.x)')).toEqual(['**bold** _it_ `code` [link](https://e.x)']);
    const code = Array.from({ length: 400 }, (_, i) => `line ${i}`).join('\n');
    const parts = renderDiscordParts(`intro\n\`\`\`py\n${code}\n\`\`\`\nend`);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(DISCORD_MESSAGE_LIMIT);
      expect((p.match(/```/g) ?? []).length % 2).toBe(0);
    }
    expect(parts[1]!.startsWith('```py')).toBe(true);
  });
});

describe('classifyDiscordError', () => {
  const request = { body: undefined, files: undefined, json: undefined };
  it('splits refusals, rate limits and outages', () => {
    expect(classifyDiscordError(new DiscordAPIError({ code: 50013, message: 'Missing Permissions' }, 50013, 403, 'POST', '/x', request))).toMatchObject({ kind: 'permanent' });
    expect(classifyDiscordError(new HTTPError(502, 'Bad Gateway', 'POST', '/x', request))).toMatchObject({ kind: 'transient' });
    const limited = new RateLimitError({ timeToReset: 1500, limit: 5, method: 'POST', hash: 'h', url: '/x', route: '/channels/:id/messages', majorParameter: '1', global: false, retryAfter: 1500, sublimitTimeout: 0, scope: 'user' });
    expect(classifyDiscordError(limited)).toEqual({ kind: 'rate_limited', retryAfterMs: 1500 });
    expect(classifyDiscordError(new Error('ECONNREFUSED'))).toMatchObject({ kind: 'transient' });
  });

  it('says which edit failures mean the draft is gone (the outbound worker then sends the reply as a new message)', () => {
    const { uneditable } = discordSender(recordingRest().rest, BOT_ID);
    const apiError = (code: number, status: number) => new DiscordAPIError({ code, message: 'x' }, code, status, 'PATCH', '/channels/1/messages/2', request);
    expect(uneditable!(apiError(10008, 404))).toBe(true); // Unknown Message: deleted
    expect(uneditable!(apiError(50005, 403))).toBe(true); // another user's message
    expect(uneditable!(apiError(50013, 403))).toBe(false); // Missing Permissions: a refusal like any other
    expect(uneditable!(new HTTPError(502, 'Bad Gateway', 'PATCH', '/x', request))).toBe(false);
    // The streamer stops editing such a draft by the same rule.
    expect(discordDraftSurface(recordingRest().rest).uneditable).toBe(uneditable);
  });

  it('deletes a draft that could not be edited into the reply', async () => {
    const { rest, calls } = recordingRest();
    await discordSender(rest, BOT_ID).remove!({ account: BOT_ID, chatId: '800' }, '123');
    expect(calls).toEqual([{ method: 'DELETE', route: '/channels/800/messages/123', body: undefined }]);
  });
});

describe('loadDiscordConfig', () => {
  const token = `${Buffer.from(BOT_ID).toString('base64')}.GhIjKl.secretpart`;
  it('reads shards as a pair and names bad variables without their values', () => {
    expect(loadDiscordConfig({ DISCORD_BOT_TOKEN: token, DISCORD_SHARD_ID: '1', DISCORD_SHARD_COUNT: '4' })).toMatchObject({ DISCORD_SHARD_ID: 1, DISCORD_SHARD_COUNT: 4, PORT: 9203 });
    expect(() => loadDiscordConfig({ DISCORD_BOT_TOKEN: token, DISCORD_SHARD_ID: '1' })).toThrow(/DISCORD_SHARD_ID/);
    expect(() => loadDiscordConfig({ DISCORD_BOT_TOKEN: token, DISCORD_SHARD_ID: '4', DISCORD_SHARD_COUNT: '4' })).toThrow(/below/);
    expect(() => loadDiscordConfig({ DISCORD_BOT_TOKEN: 'not-a-token' })).toThrow(/DISCORD_BOT_TOKEN/);
    try {
      loadDiscordConfig({ DISCORD_BOT_TOKEN: 'bm90LWRpZ2l0cw.x.y' });
    } catch (err) {
      expect(String(err)).toMatch(/DISCORD_BOT_TOKEN/);
      expect(String(err)).not.toContain('bm90LWRpZ2l0cw');
    }
  });
});
