import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { issueList, SafeId, type SessionEvent, type TokenUsage } from '@switchboard/contracts';
import type { EventHub, Follow, LaneIngress } from '@switchboard/lanes';
import { sendError } from '../http-errors.ts';
import { MAX_MESSAGE_CHARS, webInbound, webSessionKey } from '../web-session.ts';

const ContentPart = z.object({ type: z.string(), text: z.string().optional() }).passthrough();
const Message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: z.union([z.string(), z.array(ContentPart), z.null()]).optional(),
  })
  .passthrough();
const Body = z
  .object({
    model: z.string().optional(),
    messages: z.array(Message).min(1, 'messages must not be empty'),
    stream: z.boolean().optional(),
    /** `include_usage`: a last chunk, before `[DONE]`, carries the turn's token usage (OpenAI's format). */
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullish(),
    user: SafeId.optional(),
  })
  .passthrough();

function textOf(content: z.infer<typeof Message>['content']): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join('');
}

type Outcome = { ok: true; text: string; turnId: string; usage: TokenUsage | undefined } | { ok: false; code: string; message: string };

/** OpenAI's `usage` object for a turn's usage (zeros when it is not known: a reply delivered again). */
function usageOf(usage: TokenUsage | undefined) {
  const prompt = usage?.promptTokens ?? 0;
  const completion = usage?.completionTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/**
 * What a stream still has to send of the final reply `text`, given all it `streamed` and the part of
 * that the run's current model step wrote (`stepStreamed`). Text already sent cannot be taken back:
 * the reply's continuation of the current step's text, nothing when the stream already ends with the
 * reply (steps that no tool event told apart), else the whole reply after a blank line (another run
 * answered, or the streamed one began otherwise).
 */
export function restOfReply(text: string, streamed: string, stepStreamed: string, didStream: boolean): string {
  if (!didStream || streamed === '') return text;
  if (stepStreamed !== '' && text.startsWith(stepStreamed)) return text.slice(stepStreamed.length);
  if (streamed.endsWith(text)) return '';
  return `\n\n${text}`;
}

export interface ChatCompletionsDeps {
  ingress: LaneIngress;
  hub: EventHub;
  replyTimeoutMs: number;
  /** Reported as `model` in responses when the request names none. */
  modelName: string;
}

/**
 * OpenAI-compatible `POST /v1/chat/completions`. The server keeps the history: the session is
 * `X-Session-Id` or `user` (a fresh one-off session when neither is given) and only the last user
 * message is new input. Waits for that message's reply on the session's event stream, which any
 * replica can read, so it does not matter which web replica holds the connection.
 */
export function chatCompletionsRouter(deps: ChatCompletionsDeps): Router {
  const router = Router();
  router.post('/v1/chat/completions', async (req: Request, res: Response) => {
    const body = Body.safeParse(req.body);
    if (!body.success) return sendError(res, 400, 'bad_request', 'invalid body', issueList(body.error.issues));
    const last = body.data.messages[body.data.messages.length - 1]!;
    const text = textOf(last.content);
    if (last.role !== 'user' || text.trim() === '') return sendError(res, 400, 'bad_request', 'the last message must be a user message with text');
    if (text.length > MAX_MESSAGE_CHARS) return sendError(res, 400, 'bad_request', `the last message is longer than ${MAX_MESSAGE_CHARS} characters`);
    const header = req.get('x-session-id');
    const sessionId = SafeId.safeParse(header ?? body.data.user ?? randomUUID());
    if (!sessionId.success) return sendError(res, 400, 'bad_request', 'invalid X-Session-Id');

    const account = res.locals.caller.account;
    const key = webSessionKey(account, sessionId.data);
    const messageId = randomUUID();
    const model = body.data.model ?? deps.modelName;
    const completionId = `chatcmpl-${messageId}`;
    const created = Math.floor(Date.now() / 1000);
    const stream = body.data.stream === true;
    let myTurn: string | undefined;
    let settle!: (o: Outcome) => void;
    const outcome = new Promise<Outcome>((resolve) => (settle = resolve));
    let streamed = '';
    /**
     * What the streamed run sent since its last tool call or result: the text of its current model
     * step. A turn streams every step (text the model wrote before calling a tool too), but its
     * reply is the last step's text alone.
     */
    let stepStreamed = '';
    /**
     * The run being streamed (turn id and attempt); unset until its first delta. A crash-resumed run
     * has a higher attempt, and in interrupt mode a batch given back is claimed again under a new
     * turn id: either streams its answer again from the start.
     */
    let streamRun: string | undefined;
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({ id: completionId, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

    const onEvent = (e: SessionEvent) => {
      if (e.type === 'turn_started' && e.messageIds.includes(messageId)) myTurn = e.turnId;
      else if (e.type === 'delta' && stream && e.turnId === myTurn) {
        // Text already sent cannot be taken back: stream one run of the turn; if another run
        // answers, the final reply sends whatever it adds beyond what was streamed, or all of it.
        const run = `${e.turnId}:${e.attempt ?? 0}`;
        streamRun ??= run;
        if (run !== streamRun) return;
        streamed += e.text;
        stepStreamed += e.text;
        res.write(chunk({ content: e.text }, null));
      } else if ((e.type === 'tool_call' || e.type === 'tool_result') && e.turnId === myTurn) stepStreamed = '';
      else if (e.type === 'reply' && e.inReplyTo.includes(messageId)) settle({ ok: true, text: e.text, turnId: e.turnId, usage: e.usage });
      else if (e.type === 'turn_error' && e.inReplyTo.includes(messageId)) settle({ ok: false, code: e.code, message: e.message });
    };
    const errorChunk = (code: string, message: string) => `data: ${JSON.stringify({ error: { code, message, type: 'server_error' } })}\n\n`;
    // The response's `close` is the client going away (the request's fires as soon as its body is
    // read). Listened to before any await, so a client that leaves early is noticed.
    let gone = false;
    res.on('close', () => {
      gone = !res.writableFinished;
      settle({ ok: false, code: 'client_closed', message: 'client closed the connection' });
    });
    if (stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no', 'x-session-id': sessionId.data });
      res.write(chunk({ role: 'assistant', content: '' }, null));
    }
    let follow: Follow | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      // Listening before the message is appended; it starts at the newest event as of the append.
      follow = await deps.hub.follow(key, (events) => events.forEach((s) => onEvent(s.event)));
      if (gone) return; // the client left before its message was sent: nothing is enqueued
      timer = setTimeout(() => settle({ ok: false, code: 'timeout', message: `no reply within ${deps.replyTimeoutMs} ms` }), deps.replyTimeoutMs);
      const appended = await deps.ingress.submit({ ...webInbound(account, sessionId.data, text), id: messageId });
      follow.from(appended.lastEventId, true);
      const result = await outcome;
      if (res.writableEnded || res.destroyed) return;
      if (stream) {
        if (result.ok) {
          const rest = restOfReply(result.text, streamed, stepStreamed, streamRun !== undefined);
          if (rest !== '') res.write(chunk({ content: rest }, null));
          res.write(chunk({}, 'stop'));
          if (body.data.stream_options?.include_usage) {
            res.write(`data: ${JSON.stringify({ id: completionId, object: 'chat.completion.chunk', created, model, choices: [], usage: usageOf(result.usage) })}\n\n`);
          }
        } else {
          res.write(errorChunk(result.code, result.message));
        }
        res.end('data: [DONE]\n\n');
        return;
      }
      if (!result.ok) return sendError(res, result.code === 'timeout' ? 504 : 502, result.code, result.message);
      res.set('x-session-id', sessionId.data).json({
        id: completionId,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: result.text }, finish_reason: 'stop' }],
        usage: usageOf(result.usage),
      });
    } catch (err) {
      // A stream's head is out: end it with an error chunk, as a failed turn does (the app's error
      // handler logs the error; without a head it answers 500).
      if (stream && !res.writableEnded && !res.destroyed) res.end(errorChunk('handler_error', 'internal error') + 'data: [DONE]\n\n');
      throw err;
    } finally {
      clearTimeout(timer);
      follow?.close();
    }
  });
  return router;
}
