import { randomUUID } from 'node:crypto';
import { storableJson, storableText } from '@switchboard/contracts';
import type { Db } from '@switchboard/store';
import { argumentsDigest, type ApprovalBoard, type ApprovalStatus } from '@switchboard/tools';

export interface ApprovalRecord {
  id: string;
  status: ApprovalStatus;
  decidedBy: string | undefined;
  expiresAt: Date;
}

interface Row {
  id: string;
  status: ApprovalStatus;
  decided_by: string | null;
  expires_at: Date;
}

const toRecord = (r: Row): ApprovalRecord => ({ id: r.id, status: r.status, decidedBy: r.decided_by ?? undefined, expiresAt: new Date(r.expires_at) });

/**
 * Durable approvals: an "ask" parks the turn with a row here (one per turn and tool call), the
 * request is published on the ApprovalBoard for the web and chat buttons, and the decision is
 * copied back here when the turn resumes. Survives restarts of every process: the row and the
 * claimed batch are all a resumed turn needs.
 */
export class ApprovalStore {
  private readonly db: Db;
  private readonly board: ApprovalBoard;
  private readonly timeoutMs: number;

  constructor(db: Db, board: ApprovalBoard, timeoutMs: number) {
    this.db = db;
    this.board = board;
    this.timeoutMs = timeoutMs;
  }

  /**
   * The approval for this call, creating (and publishing) it if there is none yet. `sameCall` is
   * false when the approval under this turn and call id was asked for another tool or other
   * arguments (a model asked again after its checkpoint was lost): it does not cover this call.
   */
  async ensure(req: {
    sessionKey: string;
    account: string;
    session: { platform: string; chatId: string; threadId?: string | undefined; userId: string };
    turnId: string;
    toolCallId: string;
    tool: string;
    args: Record<string, unknown>;
    reason: string;
  }): Promise<{ record: ApprovalRecord; created: boolean; sameCall: boolean }> {
    const id = `ap_${randomUUID().replace(/-/g, '')}`;
    // The model wrote the call id and the arguments: text Postgres cannot store must not fail the turn.
    const toolCallId = storableText(req.toolCallId);
    const args = JSON.stringify(storableJson(req.args));
    // The session row may not exist yet (its first turn commits later); fence 0 never wins a commit.
    await this.db.query(
      `INSERT INTO sessions (id, platform, account, chat_id, thread_id, user_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
      [req.sessionKey, req.session.platform, req.account, req.session.chatId, req.session.threadId ?? null, req.session.userId],
    );
    const { rows } = await this.db.query<Row>(
      `INSERT INTO approvals (id, session_id, turn_id, tool_call_id, tool, arguments, reason, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, now() + ($8::int * interval '1 millisecond'))
       ON CONFLICT (turn_id, tool_call_id) DO NOTHING
       RETURNING id, status, decided_by, expires_at`,
      [id, req.sessionKey, req.turnId, toolCallId, req.tool, args, req.reason, this.timeoutMs],
    );
    const created = rows.length > 0;
    const existing = created
      ? undefined
      : (
          await this.db.query<Row & { same: boolean }>(
            `SELECT id, status, decided_by, expires_at, (tool = $3 AND arguments = $4::jsonb) AS same FROM approvals WHERE turn_id = $1 AND tool_call_id = $2`,
            [req.turnId, toolCallId, req.tool, args],
          )
        ).rows[0]!;
    const record = toRecord(existing ?? rows[0]!);
    const sameCall = existing === undefined || existing.same === true;
    // Published again on every resume: a Redis that lost the request gets it back (a decision
    // already there is kept). Never for another call: its digest would take the place of the one
    // the approver is shown.
    if (record.status === 'pending' && sameCall) {
      await this.board.publish(
        {
          id: record.id, sessionKey: req.sessionKey, account: req.account, turnId: req.turnId, toolCallId: req.toolCallId, tool: req.tool,
          argsDigest: argumentsDigest(req.args),
        },
        Math.ceil(this.timeoutMs / 1000) + 24 * 3600,
      );
    }
    return { record, created, sameCall };
  }

  /** Brings a pending record up to date: a decision from the board, or expiry. */
  async settle(record: ApprovalRecord): Promise<ApprovalRecord> {
    if (record.status !== 'pending') return record;
    const live = await this.board.get(record.id);
    let status: ApprovalStatus | undefined = live && live.status !== 'pending' ? live.status : undefined;
    let decidedBy = live?.decidedBy;
    if (!status && record.expiresAt.getTime() <= Date.now()) {
      const expired = await this.board.decide(record.id, 'expired', live?.account ?? '', 'timeout');
      // A decision that landed just before the timeout wins.
      status = expired.ok ? 'expired' : (expired.status ?? 'expired');
      decidedBy = expired.ok ? 'timeout' : (await this.board.get(record.id))?.decidedBy;
    }
    if (!status) return record;
    await this.db.query(`UPDATE approvals SET status = $2, decided_by = $3, decided_at = now() WHERE id = $1 AND status = 'pending'`, [record.id, status, decidedBy ?? null]);
    return { ...record, status, decidedBy };
  }
}

const SECRET_KEY = /token|secret|password|passwd|api[_-]?key|authorization|cookie|credential/i;

/** Replaces the values of secret-looking fields, at any depth, before arguments are stored. */
export function redactArguments(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactArguments);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redactArguments(v)]));
  }
  return value;
}

export interface AuditEntry {
  sessionKey: string;
  userId: string;
  platform: string;
  turnId: string;
  toolCallId: string;
  tool: string;
  args: unknown;
  decision: 'allow' | 'deny' | 'ask' | 'invalid';
  approvalId?: string | undefined;
  approver?: string | undefined;
  outcome: string;
  durationMs: number;
}

/** Writes one audit row per tool call (idempotent per turn and call, so a resumed turn adds none). */
export async function writeAudit(db: Db, e: AuditEntry): Promise<void> {
  await db.query(
    `INSERT INTO tool_audit (session_id, user_id, platform, turn_id, tool_call_id, tool, arguments, decision, approval_id, approver, outcome, duration_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12)
     ON CONFLICT (turn_id, tool_call_id) DO NOTHING`,
    [e.sessionKey, e.userId, e.platform, e.turnId, storableText(e.toolCallId), storableText(e.tool), JSON.stringify(storableJson(redactArguments(e.args) ?? null)), e.decision, e.approvalId ?? null, e.approver ?? null, e.outcome, Math.round(e.durationMs)],
  );
}
