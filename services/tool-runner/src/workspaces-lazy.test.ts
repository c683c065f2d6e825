/**
 * Before the fix, runTool() made the session's workspace before every tool run, whatever the tool
 * (web_search, recall, an MCP tool), and nothing removes a workspace: the root gained a directory
 * per session that ever ran any tool. Now only a tool that declares `usesWorkspace` gets one.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type ToolPlugin } from '@switchboard/tools';
import { runTool } from './run-tool.ts';
import { createWorkspaces } from './sandbox/workspaces.ts';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A tool that never touches the filesystem (like web_search, recall or an MCP tool). */
const lookup = defineTool({
  name: 'lookup',
  description: 'answers from memory',
  risk: 'low',
  parameters: z.object({}),
  execute: async () => 'ok',
}) as unknown as ToolPlugin;

describe('runTool: session workspaces', () => {
  it('does not leave a directory behind for every session that ran a tool that needs none', async () => {
    const base = mkdtempSync(join(tmpdir(), 'ws-probe-'));
    roots.push(base);
    const workspaces = createWorkspaces({ rootDir: join(base, 'ws'), owner: undefined });
    const SESSIONS = 50;
    for (let i = 0; i < SESSIONS; i++) {
      const result = await runTool(
        lookup,
        { v: 1, turnId: `t${i}`, toolCallId: 'c1', sessionKey: `telegram:bot:chat${i}`, platform: 'telegram', userId: `u${i}`, tool: 'lookup', arguments: {} },
        { maxOutputBytes: 1000, workspaces },
      );
      expect(result.ok).toBe(true);
    }
    const left = existsSync(join(base, 'ws')) ? readdirSync(join(base, 'ws')).length : 0;
    // Before the fix: 50 directories, one per session, and no code path that ever deletes one.
    expect(left, `${left} session workspaces left behind by ${SESSIONS} runs of a tool that uses no workspace`).toBe(0);
  });

  it('makes the workspace for a tool that declares it uses one, and hands it over', async () => {
    const base = mkdtempSync(join(tmpdir(), 'ws-lazy-'));
    roots.push(base);
    const workspaces = createWorkspaces({ rootDir: join(base, 'ws'), owner: undefined });
    let seen: string | undefined;
    const files = defineTool({ name: 'files', description: 'works in the workspace', risk: 'low', usesWorkspace: true, parameters: z.object({}), execute: async (_args, ctx) => ((seen = ctx.workspaceDir), 'ok') }) as unknown as ToolPlugin;
    const result = await runTool(files, { v: 1, turnId: 't1', toolCallId: 'c1', sessionKey: 'telegram:bot:chat1', platform: 'telegram', userId: 'u1', tool: 'files', arguments: {} }, { maxOutputBytes: 1000, workspaces });
    expect(result.ok).toBe(true);
    expect(seen).toBe(workspaces.pathFor('telegram:bot:chat1'));
    expect(existsSync(seen!)).toBe(true);
  });
});

