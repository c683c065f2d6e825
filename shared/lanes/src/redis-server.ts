import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private redis-server child process, bound to 127.0.0.1 on a free port: the one-process system's
 * Redis when no REDIS_URL is given, and the test run's Redis.
 */
export interface PrivateRedis {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Finds a free TCP port on 127.0.0.1 (racy by nature; good enough for private test servers). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts `redis-server` from PATH with its data in `dir` (a fresh temp dir unless given).
 * Resolves once it accepts connections; rejects with a clear message when redis-server is missing.
 */
export async function startRedisServer(opts: { dir?: string; port?: number; appendOnly?: boolean } = {}): Promise<PrivateRedis> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'sb-redis-')));
  const port = opts.port ?? (await freePort());
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', opts.appendOnly ? 'yes' : 'no',
    '--maxmemory-policy', 'noeviction',
    '--protected-mode', 'yes',
  ];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    if (output.length < 10_000) output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    if (output.length < 10_000) output += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error('redis-server was not found on PATH; install Redis (apt-get install redis-server)') : err);
    child.once('error', onError);
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}: ${output.slice(-2000)}`)));
    const check = setInterval(() => {
      if (output.includes('Ready to accept connections')) {
        clearInterval(check);
        child.off('error', onError);
        child.removeAllListeners('exit');
        resolve();
      }
    }, 10);
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    process: child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
