import { mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createWorkspaces, workspaceName, workspaceOwnerFor } from './workspaces.ts';

const base = await mkdtemp(join(tmpdir(), 'sb-ws-'));
afterAll(() => rm(base, { recursive: true, force: true }));

describe('workspaces', () => {
  it('names a workspace by a hash of the session key, never by the key itself', () => {
    expect(workspaceName('web:local:s1')).toMatch(/^[0-9a-f]{32}$/);
    expect(workspaceName('web:local:s1')).toBe(workspaceName('web:local:s1'));
    expect(workspaceName('web:local:s1')).not.toBe(workspaceName('web:local:s2'));
    expect(workspaceName('../../etc')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('creates the workspace on first use, 0700, owned by the sandbox uid when the runner is root', async () => {
    const uid = process.getuid?.() ?? -1;
    const owner = workspaceOwnerFor(uid, { uid: 65534, gid: 65534 });
    const workspaces = createWorkspaces({ rootDir: join(base, 'root'), owner });
    const dir = await workspaces.ensure('telegram:bot:chat-1');
    expect(dir).toBe(workspaces.pathFor('telegram:bot:chat-1'));
    const st = await stat(dir);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o700);
    expect(st.uid).toBe(uid === 0 ? 65534 : uid);
    expect((await stat(join(base, 'root'))).mode & 0o777).toBe(0o711);
    expect(await workspaces.ensure('telegram:bot:chat-1')).toBe(dir);
    expect(await workspaces.ensure('telegram:bot:chat-2')).not.toBe(dir);
  });

  it('refuses a workspace path that is not a plain directory', async () => {
    const workspaces = createWorkspaces({ rootDir: join(base, 'root2'), owner: undefined });
    await workspaces.ensure('first');
    await symlink('/etc', workspaces.pathFor('planted'));
    await expect(workspaces.ensure('planted')).rejects.toMatchObject({ code: 'workspace_unavailable' });
  });

  it('only takes an absolute root', () => {
    expect(() => createWorkspaces({ rootDir: 'relative/dir', owner: undefined })).toThrow(/absolute/);
  });
});
