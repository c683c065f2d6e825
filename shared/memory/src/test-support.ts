import { countTokens, type ChatToolCall } from '@switchboard/llm';
import { createLogger } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { lastUserMessages, messageText, type FakeChatRequest, type FakeResponse } from '@switchboard/testkit';
import { EXTRACTION_SYSTEM_PROMPT } from './extraction.ts';
import { SUMMARY_SYSTEM_PROMPT } from './compaction.ts';

/** Test-only helpers: transcript rows written the way the agent worker commits them, and a fake model that plays summarizer and extractor. */

export function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ service: 'test', level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { logger, lines };
}

export interface Row {
  role: 'user' | 'assistant' | 'tool';
  content: string;
  userId?: string;
  toolCalls?: ChatToolCall[];
  toolCallId?: string;
}

/** Writes one committed turn (session row on first use, turn, messages with token counts). */
export async function commitTurn(db: Db, session: { key: string; userId: string; account?: string }, turnId: string, rows: Row[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO sessions (id, platform, account, chat_id, user_id) VALUES ($1, 'web', $2, $1, $3) ON CONFLICT (id) DO NOTHING`,
      [session.key, session.account ?? 'local', session.userId],
    );
    await tx.query(`INSERT INTO turns (id, session_id, fence, inbound_ids, reply_text) VALUES ($1, $2, 1, '{}', '')`, [turnId, session.key]);
    const { rows: base } = await tx.query<{ seq: number }>(`SELECT coalesce(max(seq), 0) AS seq FROM messages WHERE session_id = $1`, [session.key]);
    let seq = Number(base[0]!.seq);
    for (const r of rows) {
      await tx.query(
        `INSERT INTO messages (session_id, seq, turn_id, role, content, tool_calls, tool_call_id, user_id, tokens) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [session.key, ++seq, turnId, r.role, r.content, r.toolCalls ? JSON.stringify(r.toolCalls) : null, r.toolCallId ?? null, r.role === 'user' ? (r.userId ?? session.userId) : null, countTokens(r.content)],
      );
    }
  });
}

export type CallKind = 'extract' | 'summarize' | 'chat';

export function callKind(body: FakeChatRequest): CallKind {
  const system = body.messages[0] ? messageText(body.messages[0]) : '';
  if (system === EXTRACTION_SYSTEM_PROMPT) return 'extract';
  if (system === SUMMARY_SYSTEM_PROMPT) return 'summarize';
  return 'chat';
}

/**
 * The extractor's answer: every "my X is Y" a user line says becomes "The user's X is Y.".
 * Possessives ("my sister's name is Ana") are kept.
 */
export function fakeExtraction(body: FakeChatRequest): FakeResponse {
  const excerpt = lastUserMessages(body).join('\n');
  const memories = [...excerpt.matchAll(/^User: .*?\bmy ([\w' ]{2,40}?) (?:is|are) ([\p{L}\p{N}][\p{L}\p{N} -]{0,40})/gimu)].map((m) => ({
    content: `The user's ${m[1]!.trim()} is ${m[2]!.trim()}.`,
    kind: /favou?rite|prefer/i.test(m[1]!) ? 'preference' : 'fact',
    importance: 0.8,
  }));
  return { text: JSON.stringify({ memories }) };
}

/** The summarizer's answer: a lossy summary naming how many lines it covered (facts are not carried over). */
export function fakeSummary(body: FakeChatRequest): FakeResponse {
  const prompt = lastUserMessages(body).join('\n');
  const lines = prompt.split('\n').filter((l) => l.startsWith('User: ')).length;
  return { text: `Earlier, the user asked ${lines} more questions about assorted topics and got answers.` };
}

/** A memory model: extracts and summarizes as the fakes above, answers any other call with "ok". */
export function fakeMemoryModel(body: FakeChatRequest): FakeResponse {
  const kind = callKind(body);
  return kind === 'extract' ? fakeExtraction(body) : kind === 'summarize' ? fakeSummary(body) : { text: 'ok' };
}
