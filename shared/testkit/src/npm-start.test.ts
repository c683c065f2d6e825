import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { npmStartCommand } from './npm-start.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
async function withStart(start: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-npm-start-cmd-'));
  dirs.push(dir);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ scripts: { start } }));
  return dir;
}

describe('npmStartCommand', () => {
  it('splits the start script into environment, node flags and entry', async () => {
    expect(await npmStartCommand(await withStart('MALLOC_ARENA_MAX=2 A_B=x=y node --max-semi-space-size=2 --trace-gc src/start.js'))).toEqual({
      env: { MALLOC_ARENA_MAX: '2', A_B: 'x=y' },
      nodeArgs: ['--max-semi-space-size=2', '--trace-gc'],
      entry: 'src/start.js',
    });
    expect(await npmStartCommand(await withStart('node src/main.ts'))).toEqual({ env: {}, nodeArgs: [], entry: 'src/main.ts' });
  });

  it('refuses a start script that is not a node command', async () => {
    await expect(npmStartCommand(await withStart('tsx src/main.ts'))).rejects.toThrow('not a plain node command');
    await expect(npmStartCommand(await withStart('FOO=1 node'))).rejects.toThrow('not a plain node command');
  });
});
