// /proc/<pid>/map_files entries can only be followed (stat) with CAP_SYS_ADMIN or
// CAP_CHECKPOINT_RESTORE in the initial user namespace. The deployed tool-runner runs as uid 10001
// with every capability dropped (k8s/README.md): there a deleted file kept by a mapping is counted
// from /proc/<pid>/maps instead, at the length mapped. Needs root (to drop to 10001) and setpriv.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const drop = ['--reuid=10001', '--regid=10001', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];
it.skipIf(process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv'))('a deleted file kept by a shared mapping is counted by a runner without capabilities too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-probe-'));
  chmodSync(dir, 0o777);
  const py = `import os, ctypes, time
libc = ctypes.CDLL(None); libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
fd = os.open('${dir}/g', os.O_CREAT | os.O_RDWR, 0o600); os.unlink('${dir}/g'); os.write(fd, b'x' * 409600)
libc.mmap(None, 409600, 3, 1, fd, 0); os.close(fd); print(os.getpid(), flush=True); time.sleep(20)`;
  const holder = spawn('setpriv', [...drop, '/usr/bin/python3', '-c', py]);
  const pid = await new Promise<number>((r) => holder.stdout.once('data', (d: Buffer) => r(Number(String(d).trim()))));
  try {
    const script = join(dir, 'check.mjs');
    writeFileSync(script, `const m = await import(${JSON.stringify(join(import.meta.dirname, 'open-deleted.ts'))});\nconsole.log(await m.deletedOpenBytes(${pid}, ${statSync(dir).dev}));`);
    const asRoot = Number(execFileSync(process.execPath, [script]).toString());
    const asRunner = Number(execFileSync('setpriv', [...drop, process.execPath, script]).toString());
    expect(asRoot).toBeGreaterThanOrEqual(409600);
    expect(asRunner).toBeGreaterThanOrEqual(409600);
  } finally {
    holder.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}, 20_000);
