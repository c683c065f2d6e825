import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const shutdownUrl = new URL('./shutdown.ts', import.meta.url).href;

describe('onShutdown, a second signal while stopping', () => {
  it('exits at once with code 1 through process.exit (so exit hooks run), whichever signal comes second', async () => {
    for (const [first, second] of [['SIGTERM', 'SIGTERM'], ['SIGINT', 'SIGINT'], ['SIGTERM', 'SIGINT']] as const) {
      const script = `
        const { onShutdown } = await import(${JSON.stringify(shutdownUrl)});
        const { createLogger } = await import(${JSON.stringify(new URL('./logger.ts', import.meta.url).href)});
        process.on('exit', (code) => process.stderr.write('exit hook ' + code + '\\n'));
        onShutdown(createLogger({ service: 'probe', level: 'silent' }), [['hang', () => new Promise(() => { process.stdout.write('stopping\\n'); })]], 20_000);
        setInterval(() => {}, 1000);
        process.stdout.write('ready\\n');
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
      while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 10));
      child.kill(first);
      while (!out.includes('stopping')) await new Promise((r) => setTimeout(r, 10));
      child.kill(second);
      const [code, signal] = await Promise.race([exited, new Promise<[string, null]>((r) => setTimeout(() => r(['hung', null]), 5_000))]);
      if (code === 'hung') child.kill('SIGKILL');
      expect({ first, second, code, signal }).toEqual({ first, second, code: 1, signal: null });
      expect(err).toContain('exit hook 1');
    }
  });
});
