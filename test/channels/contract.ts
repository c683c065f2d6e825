/**
 * The adapter contract every chat channel passes: one suite, run once per platform with that
 * platform's harness (the real service, its official SDK, and a double of the platform's API that
 * speaks the real wire protocol). A harness only translates "a user says X" into the platform's
 * payload and reads back what the bot said; every assertion lives here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Registry } from 'prom-client';
import { waitFor, type FakeScript } from '@switchboard/testkit';
import type { TestSystem } from '../support/system.ts';

/** What a webhook answered (gateway platforms report 200 once the event was handed to the client). */
export interface Delivery {
  status: number;
}

export interface HarnessOptions {
  /** Extra environment for the core and the channel service (for example `<P>_DM_POLICY`). */
  env?: Record<string, string>;
  script?: FakeScript;
}

/** A conversation place: a user's DM, or the test group/channel. */
export type Where = { dm: string } | 'group';

export interface ApprovalPrompt {
  /** The prompt's visible text. */
  text: string;
  /** Presses one of the prompt's buttons as `user`, the way the platform delivers the interaction. */
  press(user: string, choice: 'approve' | 'deny'): Promise<Delivery>;
}

export interface ChannelRig {
  system: TestSystem;
  /** The channel service's metrics registry. */
  registry: Registry;
  /** A direct message from `user`, delivered and signed as the platform does. */
  dm(user: string, text: string): Promise<Delivery>;
  /** A message in the test group; `mention` addresses the bot the platform's way. */
  group(user: string, text: string, opts: { mention: boolean }): Promise<Delivery>;
  /** Delivers the exact payload of an earlier delivery again (a platform retry). */
  redeliverLast(): Promise<Delivery>;
  /** A DM delivery with a wrong signature/secret; undefined where the platform has no signed deliveries. */
  forged(user: string, text: string): Promise<Delivery | undefined>;
  /** A payload that is not a valid platform event. */
  malformed(): Promise<Delivery>;
  /** What the bot shows in a conversation, message by message in order, after edits (drafts included). */
  said(where: Where): string[];
  /** How many send/edit calls the platform double received (429s included). */
  sendCalls(): number;
  /** Makes the platform answer the next `n` send calls with a rate limit and this retry-after. */
  rateLimitNext(n: number, retryAfterMs: number): void;
  /** Approval prompts (with buttons) the bot showed, in order. */
  approvalPrompts(): ApprovalPrompt[];
  /** How many times a message was edited after being sent (streamed drafts). */
  edits(): number;
  /**
   * The user deletes the bot's message at `index` of `said(where)`, as the platform's app lets them
   * (required where the platform has edits).
   */
  userDeletes?(where: Where, index: number): Promise<void>;
  /** How many typing indicators the bot showed in a conversation (required where the platform lacks edits). */
  typings?(where: Where): number;
  /** Approves a pairing code through the service's loopback admin route; returns the HTTP status. */
  approvePairing(code: string): Promise<number>;
  close(): Promise<void>;
}

export interface ChannelHarness {
  platform: string;
  /** The platform's limit on one message, in the units `said()` measures (characters). */
  messageLimit: number;
  /** Whether a rendered part has balanced code markup (fences, <pre> tags...). */
  codeBalanced(part: string): boolean;
  /**
   * What the platform itself cannot do (not what the service skipped): `edits` — sent messages
   * cannot be changed, so a reply streams as a typing indicator and arrives whole; `groups` — the
   * API has direct conversations only.
   */
  lacks?: { edits?: true; groups?: true };
  /** Platform user ids for the tests: `alice` and `bob` are people; neither is pre-allowed. */
  users: { alice: string; bob: string };
  start(opts?: HarnessOptions): Promise<ChannelRig>;
}

const P = (h: ChannelHarness, name: string) => `${h.platform.toUpperCase()}_${name}`;

/** Registers the contract suite for one platform. */
export function channelContract(h: ChannelHarness): void {
  const rigs: ChannelRig[] = [];
  afterEach(async () => {
    while (rigs.length) await rigs.pop()!.close();
  });
  const start = async (opts: HarnessOptions = {}) => {
    const r = await h.start(opts);
    rigs.push(r);
    return r;
  };
  const open = (env: Record<string, string> = {}) => ({ [P(h, 'DM_POLICY')]: 'open', ...env });
  const modelSaw = (r: ChannelRig, text: string) => r.system.model.requests.some((req) => JSON.stringify(req.messages).includes(text));
  const { alice, bob } = h.users;

  describe(`${h.platform} channel contract`, () => {
    it('a message in, a streamed reply out', async () => {
      const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
      const r = await start({ env: open(), script: () => ({ text: `streamed: ${words}`, chunkSize: 8, chunkDelayMs: 60 }) });
      expect((await r.dm(alice, 'hello bot')).status).toBe(200);
      await waitFor(() => r.said({ dm: alice }).some((t) => t.includes('w29')), { timeoutMs: 20_000 });
      expect(modelSaw(r, 'hello bot')).toBe(true);
      const said = r.said({ dm: alice });
      expect(said).toHaveLength(1);
      expect(said[0]).toContain(`streamed: ${words}`.slice(0, 20));
      if (h.lacks?.edits) {
        // No edits on this platform: the user sees "typing…" while the turn runs, then the whole reply.
        expect(r.typings, 'a platform without edits must report typing indicators').toBeDefined();
        expect(r.typings!({ dm: alice })).toBeGreaterThanOrEqual(1);
        expect(r.edits()).toBe(0);
      } else {
        expect(r.edits()).toBeGreaterThanOrEqual(1);
      }
    });

    it.skipIf(h.lacks?.edits)('a reply whose streamed draft the user deleted still arrives whole, as a new message', async () => {
      const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
      const r = await start({ env: open(), script: () => ({ text: `kept: ${words}`, chunkSize: 8, chunkDelayMs: 150 }) });
      expect(r.userDeletes, 'a platform with edits must let the test delete a message as the user').toBeDefined();
      await r.dm(alice, 'I will delete your draft');
      await waitFor(() => r.said({ dm: alice }).length === 1, { timeoutMs: 20_000 });
      await r.userDeletes!({ dm: alice }, 0);
      expect(r.said({ dm: alice })).toEqual([]);
      await waitFor(() => r.said({ dm: alice }).some((t) => t.includes('w29')), { timeoutMs: 20_000 });
      const said = r.said({ dm: alice });
      expect(said).toHaveLength(1);
      expect(said[0]).toContain('kept: w0 w1');
    });

    it('splits a long reply at the platform limit without breaking code blocks', async () => {
      const code = Array.from({ length: Math.ceil((h.messageLimit * 2.5) / 28) }, (_, i) => `const x${i} = a < b && c;`).join('\n');
      const r = await start({ env: open(), script: () => ({ text: `Here:\n\`\`\`ts\n${code}\n\`\`\`\nDone.` }) });
      await r.dm(alice, 'long please');
      await waitFor(() => r.said({ dm: alice }).some((t) => t.endsWith('Done.')), { timeoutMs: 20_000 });
      const parts = r.said({ dm: alice });
      expect(parts.length).toBeGreaterThanOrEqual(3);
      for (const part of parts) {
        expect(part.length).toBeLessThanOrEqual(h.messageLimit);
        expect(h.codeBalanced(part)).toBe(true);
      }
      const last = Math.ceil((h.messageLimit * 2.5) / 28) - 1;
      expect(parts.join('\n')).toMatch(new RegExp(`const x${last} = a (<|&lt;) b`));
    });

    it('refuses a bad signature or secret with 401 and enqueues nothing', async () => {
      const r = await start({ env: open() });
      const res = await r.forged(alice, 'sneaky');
      if (res === undefined) return; // no signed deliveries on this platform (gateway connection)
      expect(res.status).toBe(401);
      await r.dm(alice, 'genuine');
      await waitFor(() => r.said({ dm: alice }).length > 0);
      expect(modelSaw(r, 'sneaky')).toBe(false);
    });

    it('rejects a malformed payload and counts it', async () => {
      const r = await start({ env: open() });
      const res = await r.malformed();
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      const metrics = await r.registry.metrics();
      expect(metrics).toMatch(new RegExp(`switchboard_inbound_messages_total\\{platform="${h.platform}",outcome="rejected"\\} 1`));
    });

    it('a duplicate delivery gets one reply', async () => {
      const r = await start({ env: open() });
      await r.dm(alice, 'only once');
      await r.redeliverLast();
      await r.dm(alice, 'second message');
      await waitFor(() => r.said({ dm: alice }).some((t) => t.includes('second message')), { timeoutMs: 20_000 });
      expect(r.said({ dm: alice }).filter((t) => t.includes('only once'))).toHaveLength(1);
    });

    it('a 429 storm delays replies but loses and reorders nothing', async () => {
      const r = await start({ env: open({ [P(h, 'CHAT_INTERVAL_MS')]: '20' }) });
      r.rateLimitNext(4, 300);
      for (const text of ['first', 'second', 'third']) {
        await r.dm(alice, text);
        await waitFor(() => modelSaw(r, text));
      }
      await waitFor(() => r.said({ dm: alice }).filter((t) => /echo: (first|second|third)/.test(t)).length === 3, { timeoutMs: 30_000 });
      const replies = r.said({ dm: alice }).filter((t) => /echo: (first|second|third)/.test(t));
      expect(replies.map((t) => /echo: (\w+)/.exec(t)![1])).toEqual(['first', 'second', 'third']);
      expect(r.sendCalls()).toBeGreaterThanOrEqual(3 + 4);
    });

    it('allowlist: a stranger never reaches the model; a listed user does', async () => {
      const r = await start({ env: { [P(h, 'DM_POLICY')]: 'allowlist', [P(h, 'ALLOW_FROM')]: alice } });
      await r.dm(bob, 'stranger danger');
      await r.dm(alice, 'friend here');
      await waitFor(() => r.said({ dm: alice }).some((t) => t.includes('friend here')));
      expect(modelSaw(r, 'stranger danger')).toBe(false);
      expect(r.said({ dm: bob })).toEqual([]);
    });

    it('pairing: a stranger gets a code; once an owner approves it, they are answered', async () => {
      const r = await start({ env: { [P(h, 'DM_POLICY')]: 'pairing' } });
      await r.dm(bob, 'let me in');
      const codeMsg = await waitFor(() => r.said({ dm: bob }).find((t) => /pairing code is ([A-Z0-9]+)/.test(t)));
      const code = /pairing code is ([A-Z0-9]+)/.exec(codeMsg)![1]!;
      expect(modelSaw(r, 'let me in')).toBe(false);
      expect(await r.approvePairing('WRONG123')).toBe(404);
      expect(await r.approvePairing(code)).toBe(200);
      await r.dm(bob, 'now paired');
      await waitFor(() => r.said({ dm: bob }).some((t) => t.includes('now paired')), { timeoutMs: 20_000 });
    });

    it.skipIf(h.lacks?.groups)('groups: ignored without a mention, answered when mentioned', async () => {
      const r = await start({ env: open() });
      await r.group(alice, 'chatter among humans', { mention: false });
      await r.group(alice, 'mentioned you', { mention: true });
      await waitFor(() => r.said('group').some((t) => t.includes('mentioned you')), { timeoutMs: 20_000 });
      expect(modelSaw(r, 'chatter among humans')).toBe(false);
    });

    it.skipIf(h.lacks?.groups)('groups: a stranger is not answered unless the group policy is open; disabled ignores groups', async () => {
      const r = await start({ env: { [P(h, 'DM_POLICY')]: 'allowlist', [P(h, 'ALLOW_FROM')]: alice } });
      await r.group(bob, 'stranger in the group', { mention: true });
      await r.group(alice, 'friend in the group', { mention: true });
      await waitFor(() => r.said('group').some((t) => t.includes('friend in the group')), { timeoutMs: 20_000 });
      expect(modelSaw(r, 'stranger in the group')).toBe(false);
      const o = await start({ env: { [P(h, 'DM_POLICY')]: 'allowlist', [P(h, 'ALLOW_FROM')]: alice, [P(h, 'GROUP_POLICY')]: 'open' } });
      await o.group(bob, 'stranger welcome', { mention: true });
      await waitFor(() => o.said('group').some((t) => t.includes('stranger welcome')), { timeoutMs: 20_000 });
      const d = await start({ env: open({ [P(h, 'GROUP_POLICY')]: 'disabled' }) });
      await d.group(alice, 'groups are off', { mention: true });
      await d.dm(alice, 'but DMs work');
      await waitFor(() => d.said({ dm: alice }).some((t) => t.includes('but DMs work')), { timeoutMs: 20_000 });
      expect(modelSaw(d, 'groups are off')).toBe(false);
    });

    it('an approval answered by a button press resumes the turn', async () => {
      const toolThenReport: FakeScript = (body) => {
        const tool = body.messages.find((m) => m.role === 'tool');
        if (!tool) return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'launch codes' } }] };
        return { text: `tool said: ${String(tool.content)}` };
      };
      const r = await start({ env: open({ TOOLS_ASK: 'echo' }), script: toolThenReport });
      await r.dm(alice, 'use the tool');
      const [prompt] = await waitFor(() => (r.approvalPrompts().length > 0 ? r.approvalPrompts() : undefined), { timeoutMs: 20_000 });
      expect(prompt!.text).toContain('echo');
      expect((await prompt!.press(alice, 'approve')).status).toBe(200);
      await waitFor(() => r.said({ dm: alice }).some((t) => t.includes('tool said:') && t.includes('launch codes')), { timeoutMs: 20_000 });
    });
  });
}
