/**
 * The model's memory tools keep to the turn's memory scopes: the user's private memories only in
 * their own conversation, never in a group, where the answer goes to everyone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import type { ToolContext, ToolPlugin } from '@switchboard/tools';
import { createMemoryTools } from './memory-tools.ts';
import { MemoryStore } from './memory-store.ts';
import { recordingLogger } from './test-support.ts';
import { userScope } from './types.ts';

let db: Db;
beforeAll(async () => {
  db = await openDatabase({});
});
afterAll(async () => {
  await db?.close();
});

describe('memory tools', () => {
  it("reach the user's own memories only in a personal conversation", async () => {
    const store = new MemoryStore(db, { logger: recordingLogger().logger, registry: createRegistry({ defaultMetrics: false }) });
    await store.add({ ...userScope('telegram', 'kim'), content: 'The user’s bank PIN is 9931.', source: 'api', userId: 'kim' });
    const tools = Object.fromEntries(createMemoryTools(store, { agent: 'default' }).map((t) => [t.name, t])) as Record<string, ToolPlugin>;
    const ctx = (personal: boolean): ToolContext => ({
      sessionKey: personal ? 'telegram:acct:kim' : 'telegram:acct:-100200',
      userId: 'kim',
      platform: 'telegram',
      turnId: 't1',
      toolCallId: 'c1',
      signal: new AbortController().signal,
      ...(personal ? { personal } : {}),
    });
    const run = (name: string, args: Record<string, unknown>, personal: boolean) => tools[name]!.execute(tools[name]!.parameters.parse(args), ctx(personal));

    expect(String(await run('recall', { query: 'bank PIN' }, true))).toContain('9931');
    expect(String(await run('recall', { query: 'bank PIN' }, false))).toBe('no matching memories');
    // In the group, a memory is the conversation's, and the user's own cannot be written or deleted.
    await expect(run('remember', { content: 'The user likes cats.', scope: 'user' }, false)).rejects.toThrow(/scope session/);
    expect(String(await run('remember', { content: 'The team meets on Fridays.' }, false))).toMatch(/^remembered as #\d+/);
    expect((await store.list([{ scope: 'session', scopeId: 'telegram:acct:-100200' }])).map((m) => m.content)).toEqual(['The team meets on Fridays.']);
    expect(String(await run('forget', { query: 'bank PIN' }, false))).toMatch(/^nothing matched/);
    expect((await store.list([userScope('telegram', 'kim')])).map((m) => m.content)).toEqual(['The user’s bank PIN is 9931.']);
  });
});
