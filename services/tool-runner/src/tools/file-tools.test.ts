import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolPlugin } from '@switchboard/tools';
import { runTool } from '../run-tool.ts';
import { createWorkspaces } from '../sandbox/workspaces.ts';
import { createEditFileTool } from './edit-file.ts';
import { createListFilesTool } from './list-files.ts';
import { createReadFileTool } from './read-file.ts';
import { createWriteFileTool } from './write-file.ts';

const tools: Record<string, ToolPlugin> = {
  read_file: createReadFileTool({ maxBytes: 4096 }),
  write_file: createWriteFileTool(),
  edit_file: createEditFileTool(),
  list_files: createListFilesTool(),
};
let base: string;
let outside: string;
let workspaces: ReturnType<typeof createWorkspaces>;
const SESSION = 'web:test:files';

async function call(tool: string, args: Record<string, unknown>, sessionKey = SESSION) {
  const job = { v: 1 as const, turnId: 't', toolCallId: 'c', sessionKey, platform: 'web', userId: 'u', tool, arguments: args };
  return runTool(tools[tool]!, job, { maxOutputBytes: 16_384, workspaces });
}
const ws = () => workspaces.pathFor(SESSION);

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'sb-files-'));
  workspaces = createWorkspaces({ rootDir: join(base, 'workspaces'), owner: undefined });
  outside = join(base, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret.txt'), 'host secret\n');
  await workspaces.ensure(SESSION);
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('file tools: normal use', () => {
  it('writes (creating parents), reads, edits and lists files', async () => {
    expect(await call('write_file', { path: 'src/app/main.txt', content: 'one\ntwo\nthree\n' })).toMatchObject({ ok: true, output: 'created src/app/main.txt (14 bytes)' });
    expect(await call('read_file', { path: 'src/app/main.txt' })).toMatchObject({ ok: true, output: 'one\ntwo\nthree\n' });
    expect(await call('read_file', { path: './src//app/main.txt', startLine: 2, lineCount: 1 })).toMatchObject({ output: 'two' });
    expect(await call('edit_file', { path: 'src/app/main.txt', oldText: 'two', newText: 'TWO' })).toMatchObject({ ok: true });
    expect(await readFile(join(ws(), 'src/app/main.txt'), 'utf8')).toBe('one\nTWO\nthree\n');
    expect(await call('write_file', { path: 'src/app/main.txt', content: 'short' })).toMatchObject({ output: 'overwrote src/app/main.txt (5 bytes)' });
    expect(await readFile(join(ws(), 'src/app/main.txt'), 'utf8')).toBe('short');
    expect(await call('list_files', { recursive: true })).toMatchObject({ ok: true, output: 'src/\nsrc/app/\nsrc/app/main.txt (5 B)' });
    expect(await call('list_files', { path: 'src' })).toMatchObject({ output: 'src/app/' });
  });

  it('edit_file insists on exactly one occurrence', async () => {
    await call('write_file', { path: 'dup.txt', content: 'a a b' });
    expect(await call('edit_file', { path: 'dup.txt', oldText: 'a', newText: 'c' })).toMatchObject({ ok: false, errorCode: 'not_unique' });
    expect(await call('edit_file', { path: 'dup.txt', oldText: 'zzz', newText: 'c' })).toMatchObject({ ok: false, errorCode: 'not_found' });
    expect(await readFile(join(ws(), 'dup.txt'), 'utf8')).toBe('a a b');
  });

  it('edit_file changes only the text it replaces: bytes that are not UTF-8 elsewhere in the file stay as they were', async () => {
    const latin1 = Buffer.from('caf\xe9 = 1\nname = old\n\xff\xfe\x80', 'latin1');
    await writeFile(join(ws(), 'mixed.cfg'), latin1);
    expect(await call('edit_file', { path: 'mixed.cfg', oldText: 'name = old', newText: 'name = new' })).toMatchObject({ ok: true });
    expect(await readFile(join(ws(), 'mixed.cfg'))).toEqual(Buffer.from('caf\xe9 = 1\nname = new\n\xff\xfe\x80', 'latin1'));
  });

  it('follows symlinks that stay inside the workspace', async () => {
    await writeFile(join(ws(), 'real.txt'), 'real content');
    await symlink('real.txt', join(ws(), 'alias.txt'));
    await mkdir(join(ws(), 'realdir'));
    await symlink('realdir', join(ws(), 'aliasdir'));
    expect(await call('read_file', { path: 'alias.txt' })).toMatchObject({ ok: true, output: 'real content' });
    expect(await call('write_file', { path: 'aliasdir/new.txt', content: 'via alias' })).toMatchObject({ ok: true });
    expect(await readFile(join(ws(), 'realdir/new.txt'), 'utf8')).toBe('via alias');
  });

  it('enforces size caps and refuses non-regular files without hanging on a FIFO', async () => {
    await writeFile(join(ws(), 'big.txt'), 'x'.repeat(5000));
    expect(await call('read_file', { path: 'big.txt' })).toMatchObject({ ok: false, errorCode: 'too_large' });
    execFileSync('mkfifo', [join(ws(), 'pipe')]);
    expect(await call('read_file', { path: 'pipe' })).toMatchObject({ ok: false, errorCode: 'not_a_file' });
    expect(await call('write_file', { path: 'pipe', content: 'x' })).toMatchObject({ ok: false, errorCode: 'not_a_file' });
    expect(await call('read_file', { path: 'src' })).toMatchObject({ ok: false, errorCode: 'not_a_file' });
    expect(await call('read_file', { path: 'missing.txt' })).toMatchObject({ ok: false, errorCode: 'not_found' });
  });
});

describe('file tools: escapes', () => {
  it('rejects absolute paths', async () => {
    for (const path of ['/etc/passwd', '/', '~/x', ws() + '/real.txt']) {
      expect(await call('read_file', { path }), path).toMatchObject({ ok: false, errorCode: 'invalid_path' });
    }
    expect(await call('write_file', { path: '/tmp/sb-abs-escape.txt', content: 'x' })).toMatchObject({ errorCode: 'invalid_path' });
    expect(existsSync('/tmp/sb-abs-escape.txt')).toBe(false);
    expect(await call('list_files', { path: '/' })).toMatchObject({ errorCode: 'invalid_path' });
  });

  it('counts the directories a write creates against the quota, and takes no new file in a workspace over it', async () => {
    const session = 'web:test:files-quota';
    const dir = await workspaces.ensure(session);
    const write = (path: string, content: string) =>
      runTool(createWriteFileTool({ quotaBytes: 16 * 1024 }), { v: 1, turnId: 't', toolCallId: 'c', sessionKey: session, platform: 'web', userId: 'u', tool: 'write_file', arguments: { path, content } }, { maxOutputBytes: 16_384, workspaces });
    const deep = (n: number) => Array.from({ length: n }, (_, i) => `d${i}`).join('/');
    // One byte, but five new directories (4 KiB each as the quota counts them): over 16 KiB.
    expect(await write(`${deep(5)}/f`, 'x')).toMatchObject({ ok: false, errorCode: 'quota_exceeded' });
    expect(existsSync(join(dir, 'd0'))).toBe(false);
    expect(await write(`${deep(2)}/f`, 'x')).toMatchObject({ ok: true });
    // Taken over the quota from outside the tools: an empty file is refused too.
    await writeFile(join(dir, 'big'), Buffer.alloc(16 * 1024));
    expect(await write('empty', '')).toMatchObject({ ok: false, errorCode: 'quota_exceeded' });
    // Shrinking a file is still allowed.
    expect(await write('big', '')).toMatchObject({ ok: true });
  });

  it('rejects a name longer than the file system takes before creating anything', async () => {
    const result = await call('write_file', { path: `new1/new2/${'x'.repeat(300)}`, content: 'hi' });
    expect(result).toMatchObject({ ok: false, errorCode: 'invalid_path' });
    expect(existsSync(join(ws(), 'new1'))).toBe(false);
  });

  it('rejects .. traversal out of the workspace', async () => {
    for (const path of ['..', '../outside/secret.txt', 'src/../../x', 'a/b/../../../x', '../../outside/secret.txt']) {
      expect(await call('read_file', { path }), path).toMatchObject({ ok: false, errorCode: 'path_escape' });
    }
    expect(await call('write_file', { path: '../escape.txt', content: 'x' })).toMatchObject({ errorCode: 'path_escape' });
    expect(existsSync(join(base, 'workspaces', 'escape.txt'))).toBe(false);
    expect(await call('list_files', { path: '..' })).toMatchObject({ errorCode: 'path_escape' });
    // `..` that stays inside is only normalisation.
    expect(await call('read_file', { path: 'src/../real.txt' })).toMatchObject({ ok: true, output: 'real content' });
  });

  it('refuses a symlink to a host file or directory (/etc), for every tool', async () => {
    await symlink('/etc', join(ws(), 'etc'));
    await symlink('/etc/hostname', join(ws(), 'hostname'));
    await symlink(join(outside, 'secret.txt'), join(ws(), 'secret-link'));
    expect(await call('read_file', { path: 'etc/hostname' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(await call('read_file', { path: 'hostname' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(await call('list_files', { path: 'etc' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(await call('write_file', { path: 'secret-link', content: 'overwritten' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(await call('edit_file', { path: 'secret-link', oldText: 'host', newText: 'HACKED' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('host secret\n');
    // Listing shows the link without following it.
    expect((await call('list_files', {})).output).toContain('etc -> /etc');
  });

  it('refuses a symlinked directory that leads out (write through it creates nothing outside)', async () => {
    await symlink(outside, join(ws(), 'outdir'));
    expect(await call('write_file', { path: 'outdir/new.txt', content: 'x' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(await call('write_file', { path: 'outdir/deeper/new.txt', content: 'x' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(existsSync(join(outside, 'new.txt'))).toBe(false);
    expect(existsSync(join(outside, 'deeper'))).toBe(false);
    expect(await call('read_file', { path: 'outdir/secret.txt' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect((await call('list_files', { recursive: true })).output).not.toMatch(/^outdir\/secret\.txt/m);
  });

  it("refuses a symlink into a sibling session's workspace", async () => {
    const other = await workspaces.ensure('web:test:other-user');
    await writeFile(join(other, 'private.txt'), 'other user data');
    await symlink(other, join(ws(), 'sibling'));
    await symlink(join(other, 'private.txt'), join(ws(), 'sibling-file'));
    expect(await call('read_file', { path: 'sibling/private.txt' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(await call('read_file', { path: 'sibling-file' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(await call('write_file', { path: 'sibling/planted.txt', content: 'x' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
    expect(existsSync(join(other, 'planted.txt'))).toBe(false);
    expect(await call('list_files', { path: 'sibling' })).toMatchObject({ ok: false, errorCode: 'path_escape' });
  });

  it('stays inside while a directory is swapped for an escaping symlink mid-call (TOCTOU)', async () => {
    const dir = join(ws(), 'race');
    const parked = join(ws(), 'race-parked');
    await mkdir(dir);
    let swapping = true;
    const swapper = (async () => {
      // Flip "race" between a real directory and a symlink to the outside, as a sandboxed process could.
      while (swapping) {
        await rename(dir, parked).catch(() => undefined);
        await symlink(outside, dir).catch(() => undefined);
        await new Promise((r) => setImmediate(r));
        await rm(dir, { force: true }).catch(() => undefined);
        await rename(parked, dir).catch(() => undefined);
      }
    })();
    const outcomes = new Map<string, number>();
    // At least 150 rounds, and on until some call met the symlink (the swapper's timing against the
    // calls' varies with the machine's load; a round takes ~2 ms).
    for (let i = 0; i < 150 || (!outcomes.has('path_escape') && i < 10_000); i++) {
      for (const r of [await call('write_file', { path: `race/f${i}.txt`, content: 'x' }), await call('read_file', { path: 'race/f0.txt' })]) {
        const key = r.ok ? 'ok' : (r.errorCode ?? '?');
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    }
    swapping = false;
    await swapper;
    // The race really happened: some calls met the symlink and were refused, none went through it.
    expect(outcomes.get('path_escape') ?? 0).toBeGreaterThan(0);
    const leaked = execFileSync('ls', [outside], { encoding: 'utf8' }).trim().split('\n');
    expect(leaked).toEqual(['secret.txt']);
  });

  it('fails cleanly without a workspace', async () => {
    const job = { v: 1 as const, turnId: 't', toolCallId: 'c', sessionKey: 's', platform: 'web', userId: 'u', tool: 'read_file', arguments: { path: 'a' } };
    expect(await runTool(tools.read_file!, job, { maxOutputBytes: 1000 })).toMatchObject({ ok: false, errorCode: 'workspace_unavailable' });
  });
});
