import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { echoScript, uniquePrefix, waitFor } from '@switchboard/testkit';
import { postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/*
 * Runs missed while the whole system was down: the one-process system is stopped (web with its
 * schedule worker, agent worker, tool runner, database), a few run times pass, and a new system
 * starts on the same Redis prefix and data directory. Each schedule's `missedRuns` policy decides:
 * `skip` drops the missed runs, `run_once` runs once for all of them; later runs are on time again.
 */
const GRACE_MS = 400;
const prefix = uniquePrefix('restart');
let dataDir: string;
let t: TestSystem | undefined;

afterAll(async () => {
  await t?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

interface Run {
  source: string;
  outcome: string;
  firingMs: number;
}

const start = (dir: string) => startTestSystem({ dataDir: dir, prefix, keepData: true, env: { SCHEDULE_MISSED_GRACE_MS: String(GRACE_MS) } });

async function create(sys: TestSystem, body: Record<string, unknown>): Promise<string> {
  const res = await postJson(sys.url, '/v1/schedules', body);
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe('runs missed while the system was down', () => {
  it('are skipped under skip and run once under run_once, then the schedule runs on time again', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sb-restart-'));
    t = await start(dataDir);
    t.model.setScript(echoScript);
    const at = new Date(Date.now() + 1200).toISOString();
    const ids = {
      onceSkip: await create(t, { sessionId: 'r-once-skip', message: 'one-shot skip', at }),
      onceRun: await create(t, { sessionId: 'r-once-run', message: 'one-shot run', at, missedRuns: 'run_once' }),
      everySkip: await create(t, { sessionId: 'r-every-skip', message: 'every skip', everyMs: 1000 }),
      everyRun: await create(t, { sessionId: 'r-every-run', message: 'every run', everyMs: 1000, missedRuns: 'run_once' }),
    };
    // Down before anything is due: stop every service, and keep the data.
    await t.stop();
    t = undefined;
    // Long enough for the one-shots and about three runs of each every-1s schedule to be missed.
    await new Promise((r) => setTimeout(r, 3500));
    const restartedAt = Date.now();
    t = await start(dataDir);
    t.model.setScript(echoScript);
    const sys = t;
    const runs = async (): Promise<Run[]> => ((await (await fetch(`${sys.url}/v1/runs?kind=schedule&limit=500`)).json()) as { runs: Run[] }).runs;
    const of = (all: Run[], id: string) => all.filter((r) => r.source === id);
    // Wait until each every-N schedule has a run that was due after the restart: the missed ones are settled by then.
    const all = await waitFor(
      async () => {
        const r = await runs();
        const fresh = (id: string) => of(r, id).some((x) => x.firingMs > restartedAt && x.outcome === 'delivered');
        return fresh(ids.everySkip) && fresh(ids.everyRun) && of(r, ids.onceSkip).length > 0 && of(r, ids.onceRun).length > 0 ? r : undefined;
      },
      { timeoutMs: 20_000, message: 'missed runs settled and fresh runs delivered' },
    );
    const missed = (id: string) => of(all, id).filter((x) => x.firingMs < restartedAt - GRACE_MS);

    // One-shots: skip drops it (and the schedule is gone); run_once delivers it once.
    expect(of(all, ids.onceSkip).map((x) => x.outcome)).toEqual(['skipped_stale']);
    expect(of(all, ids.onceRun).map((x) => x.outcome)).toEqual(['delivered']);
    // Recurring: under skip no missed run is delivered; under run_once exactly one is.
    expect(missed(ids.everySkip).length).toBeGreaterThanOrEqual(1);
    expect(missed(ids.everySkip).filter((x) => x.outcome === 'delivered')).toEqual([]);
    expect(missed(ids.everyRun).filter((x) => x.outcome === 'delivered')).toHaveLength(1);

    // What the user sees: an answer for run_once one-shot, none for the skipped one.
    const replies = async (session: string) => {
      const { rows } = await sys.system.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE session_id = $1 AND role = 'assistant'`, [`web:local:${session}`]);
      return rows[0]!.n;
    };
    await waitFor(async () => (await replies('r-once-run')) === 1, { timeoutMs: 10_000, message: 'the run_once one-shot answered' });
    expect(await replies('r-once-skip')).toBe(0);
    const left = ((await (await fetch(`${sys.url}/v1/schedules`)).json()) as { schedules: Array<{ id: string }> }).schedules.map((s) => s.id);
    expect(left.sort()).toEqual([ids.everySkip, ids.everyRun].sort());
  });
});
