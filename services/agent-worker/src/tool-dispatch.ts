import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { safeJobId, TOOL_QUEUE, ToolJob, ToolResult } from '@switchboard/contracts';

/**
 * Sends tool calls to the tool-runners and waits for their results. The job id is derived from the
 * turn, the step and the model's tool call id, so a resumed turn that asks again gets the result of
 * the run that already happened instead of running the side effect twice.
 */
export class ToolDispatcher {
  readonly queue: Queue;
  private readonly events: QueueEvents;

  /** `blockingConnection` is used for QueueEvents' blocking reads and must not be shared. */
  constructor(connection: Redis, blockingConnection: Redis, prefix: string) {
    this.queue = new Queue(TOOL_QUEUE.name, { connection, prefix });
    this.events = new QueueEvents(TOOL_QUEUE.name, { connection: blockingConnection, prefix });
  }

  static jobId(turnId: string, step: number, toolCallId: string): string {
    return safeJobId('tool', turnId, `s${step}`, toolCallId);
  }

  /** Enqueues a run without waiting for it (idempotent: the same call is enqueued once). */
  async start(job: ToolJob, step: number) {
    const data = ToolJob.parse(job);
    const d = TOOL_QUEUE.defaults;
    return await this.queue.add(data.tool, data, {
      jobId: ToolDispatcher.jobId(data.turnId, step, data.toolCallId),
      attempts: d.attempts,
      removeOnComplete: { age: d.removeOnCompleteAgeSeconds },
      removeOnFail: { age: d.removeOnFailAgeSeconds },
    });
  }

  async run(job: ToolJob, step: number, waitMs: number): Promise<ToolResult> {
    const added = await this.start(job, step);
    try {
      const value: unknown = await added.waitUntilFinished(this.events, waitMs);
      const parsed = ToolResult.safeParse(value);
      if (parsed.success) return parsed.data;
      return { ok: false, output: 'the tool-runner returned a malformed result', truncated: false, errorCode: 'invalid_payload', durationMs: 0 };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const timedOut = /timed out|ttl/i.test(message);
      // A run no runner has started yet is taken back: the model is told it did not happen, so it
      // must not happen later behind its back (and twice, if the model asks again). One that has
      // started cannot be taken back (BullMQ refuses to remove a locked job).
      const withdrawn = timedOut && (await added.remove().then(() => true, () => false));
      return {
        ok: false,
        output: withdrawn
          ? `the tool did not start within ${waitMs} ms (every tool runner was busy); it was not run`
          : timedOut
            ? `the tool did not finish within ${waitMs} ms; it may still be running`
            : `the tool run failed: ${message}`,
        truncated: false,
        errorCode: timedOut ? 'timeout' : 'handler_error',
        durationMs: 0,
      };
    }
  }

  async close(): Promise<void> {
    await this.events.close();
    await this.queue.close();
  }
}
