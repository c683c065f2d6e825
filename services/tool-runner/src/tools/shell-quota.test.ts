// Ways a sandboxed command keeps deleted files on the workspace's disk, which the quota watch must
// count (deletedOpenBytes): open descriptors, shared mappings with the descriptor closed, and a
// thread holding them after its process' main thread exited. Not covered, and documented:
// descriptors parked in flight in a unix socket (SCM_RIGHTS), which no process holds.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTool } from '../run-tool.ts';
import { DEFAULT_SANDBOX_ETC, DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from '../sandbox/bwrap.ts';
import { probeSandbox } from '../sandbox/probe.ts';
import { createWorkspaces, workspaceOwnerFor } from '../sandbox/workspaces.ts';
import { createShellTool } from './shell.ts';

const MIB = 1024 * 1024;
const SANDBOX_ID = 65534;
const uid = process.getuid?.() ?? -1;
const limits: SandboxLimits = { ...DEFAULT_SANDBOX_LIMITS, cpuSeconds: 5, memoryBytes: 512 * MIB, fileSizeBytes: 8 * MIB, processes: 64, tmpBytes: 8 * MIB };
const root = await mkdtemp(join(tmpdir(), 'sb-quota-'));
const workspaces = createWorkspaces({ rootDir: root, owner: workspaceOwnerFor(uid, { uid: SANDBOX_ID, gid: SANDBOX_ID }) });
const probe = await probeSandbox({ bwrapPath: 'bwrap', uid: SANDBOX_ID, gid: SANDBOX_ID, limits, etcEntries: DEFAULT_SANDBOX_ETC }, workspaces, uid);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
let session = 0;
const job = (sessionKey: string, args: Record<string, unknown>) => ({ v: 1 as const, turnId: 't', toolCallId: 'c', sessionKey, platform: 'web', userId: 'u', tool: 'shell', arguments: args });
async function run(py: string) {
  const quota = createShellTool({ profile: (probe as Extract<typeof probe, { ok: true }>).profile, maxTimeoutMs: 8_000, quotaBytes: 1 * MIB, quotaCheckMs: 100 });
  const command = `cat > p.py <<'PY'\n${py}\nPY\npython3 p.py; echo "rc=$?"; echo survived`;
  return runTool(quota, job(`web:test:quota-${++session}`, { command }), { maxOutputBytes: 16_384, workspaces });
}
// Six files of 400 KiB (each under RLIMIT_FSIZE = the 1 MiB left), 2.4 MiB in all: over the quota.
const KEEP = `
import os, sys, time
def make(i):
    fd = os.open(f'g{i}', os.O_CREAT | os.O_RDWR, 0o600)
    os.unlink(f'g{i}')
    os.write(fd, b'x' * 400 * 1024)
    os.fsync(fd)
    return fd
`;

/** SYS_exit (the calling thread only) on this architecture. */
const SYS_EXIT = process.arch === 'arm64' ? 93 : 60;

describe.skipIf(!probe.ok || !existsSync('/usr/bin/python3'))('the quota watch counts deleted files a command keeps', () => {
  it('through open descriptors', async () => {
    const r = await run(`${KEEP}\nfds = [make(i) for i in range(6)]\nprint('blocks', sum(os.fstat(f).st_blocks for f in fds) * 512, flush=True)\ntime.sleep(4)`);
    expect(r).toMatchObject({ ok: false, errorCode: 'quota_exceeded' });
    expect(r.output).not.toContain('survived');
  });

  it('through shared mappings whose descriptors are closed', async () => {
    const r = await run(`${KEEP}
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
maps = []
for i in range(6):
    fd = make(i)
    addr = libc.mmap(None, 400 * 1024, 3, 1, fd, 0)  # PROT_READ|PROT_WRITE, MAP_SHARED; no dup of fd (unlike Python's mmap module)
    assert addr not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
    maps.append(addr)
    os.close(fd)
print('fds open', len(os.listdir('/proc/self/fd')), flush=True)
print('kept by mappings', flush=True)
time.sleep(4)`);
    expect(r).toMatchObject({ ok: false, errorCode: 'quota_exceeded' });
    expect(r.output).not.toContain('survived');
  });

  it('through a thread whose process’ main thread exited (its /proc/<pid>/fd reads empty)', async () => {
    const r = await run(`${KEEP}
import threading, ctypes
def hold():
    fds = [make(i) for i in range(6)]
    print('held by thread', flush=True)
    time.sleep(4)
threading.Thread(target=hold).start()
time.sleep(0.05)
ctypes.CDLL(None).syscall(${SYS_EXIT}, 0)  # SYS_exit: only the main thread`);
    expect(r).toMatchObject({ ok: false, errorCode: 'quota_exceeded' });
    expect(r.output).not.toContain('survived');
  });

  it('through a thread with a descriptor table of its own (unshare CLONE_FILES), on the same numbers as the main table', async () => {
    const r = await run(`${KEEP}
import threading, ctypes
libc = ctypes.CDLL(None, use_errno=True)
plain = [os.open(f'k{i}', os.O_CREAT | os.O_RDWR, 0o600) for i in range(6)]
def hold():
    assert libc.unshare(0x400) == 0, ctypes.get_errno()  # CLONE_FILES: this thread gets its own copy of the table
    for fd in plain: os.close(fd)
    fds = [make(i) for i in range(6)]
    assert fds == plain, (fds, plain)
    print('same numbers', fds, flush=True)
    time.sleep(4)
threading.Thread(target=hold).start()
time.sleep(4.5)`);
    expect(r).toMatchObject({ ok: false, errorCode: 'quota_exceeded' });
    expect(r.output).not.toContain('survived');
  });
});
