/*
 * Process helpers for the benchmarks: start a service as its own OS process, wait for /readyz,
 * and read its memory and CPU time from /proc (Linux).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@switchboard/testkit';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const TICKS_PER_SECOND = 100;

export interface BenchProcess {
  url: string;
  child: ChildProcess;
  /** Spawn until the first 200 from /readyz, in ms. */
  readyMs: number;
  /** Kills the process (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Spawns `node <entry>` in the repo root with `env` (plus PATH and a free PORT) and resolves once
 * `ready` (default: `/readyz` answers 200) holds, polling every 5 ms so the measured start is close
 * to the real one.
 */
export async function startProcess(
  entry: string,
  env: Record<string, string>,
  opts: { nodeArgs?: string[]; port?: number; ready?: (port: number) => Promise<boolean> } = {},
): Promise<BenchProcess> {
  const port = opts.port ?? (await freePort());
  const ready = opts.ready ?? (async (p: number) => (await fetch(`http://127.0.0.1:${p}/readyz`).catch(() => undefined))?.status === 200);
  const started = performance.now();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${entry} exited with code ${child.exitCode}`);
      return await ready(port);
    },
    { timeoutMs: 60_000, intervalMs: 5, message: `${entry} ready` },
  );
  return {
    url,
    child,
    readyMs: performance.now() - started,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Resident set size of a process, in MiB. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return round(kb / 1024);
}

function cpuOfStat(stat: string): number {
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1000;
}

/** CPU time (user + system) a process has used so far, in ms. */
export async function cpuMs(pid: number): Promise<number> {
  return cpuOfStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** Time on a CPU and time runnable but waiting for one, in ms, so far (Linux schedstat). */
export interface SchedTimes {
  running: number;
  waiting: number;
}

/**
 * {@link SchedTimes} per thread of a process, by thread name (the process' first thread as `main`;
 * threads of one name added up). Waiting time is what CPU time alone hides: a thread that is
 * ready to run while every core is busy.
 */
export async function threadSchedMs(pid: number): Promise<Record<string, SchedTimes>> {
  const out: Record<string, SchedTimes> = {};
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const [sched, stat] = await Promise.all([
      readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => undefined),
      readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined),
    ]);
    if (!sched || !stat) continue;
    const [running, waiting] = sched.split(' ').map((ns) => Number(ns) / 1e6);
    const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const times = (out[name] ??= { running: 0, waiting: 0 });
    times.running += running ?? 0;
    times.waiting += waiting ?? 0;
  }
  return out;
}

/**
 * Per thread, the share of `windowMs` it spent running and waiting for a CPU between two
 * {@link threadSchedMs} snapshots (threads that did neither are left out).
 */
export function schedShares(before: Record<string, SchedTimes>, after: Record<string, SchedTimes>, windowMs: number): Record<string, SchedTimes> {
  const out: Record<string, SchedTimes> = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name] ?? { running: 0, waiting: 0 };
    const running = round((a.running - b.running) / windowMs, 2);
    const waiting = round((a.waiting - b.waiting) / windowMs, 2);
    if (running > 0 || waiting > 0) out[name] = { running, waiting };
  }
  return out;
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:`port`. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The 1-minute load average of the machine (how busy it was while measuring). */
export async function loadAverage1m(): Promise<number> {
  return Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
}

/** CPU time so far of named processes (`self` is this process: load generator and fake model), in ms. */
export async function cpuSnapshot(pids: Record<string, number>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = await cpuMs(pid).catch(() => NaN);
  const self = process.cpuUsage();
  out.self = (self.user + self.system) / 1000;
  return out;
}

/** CPU ms each named process spent per message between two snapshots. */
export function cpuPerMessage(before: Record<string, number>, after: Record<string, number>, messages: number): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const name of Object.keys(after)) {
    const ms = (after[name]! - (before[name] ?? 0)) / Math.max(1, messages);
    out[name] = round(ms, 2);
    total += ms;
  }
  out.total = round(total, 2);
  return out;
}
