import type { TurnQueue } from '@switchboard/lanes';
import type { ApprovalBoard } from '@switchboard/tools';
import type { ChannelAccess } from './access.ts';
import { headOf } from './split.ts';

const ACTION = /^ap:(ap_[a-f0-9]{32}):(approve|deny)$/;

/** The action id / callback data of an approval button: `ap:<approval id>:approve|deny` (under 64 bytes). */
export function approvalAction(id: string, choice: 'approve' | 'deny'): string {
  return `ap:${id}:${choice}`;
}

/** Parses an approval button's action id; undefined when it is not one of ours. */
export function parseApprovalAction(data: string | undefined): { id: string; choice: 'approve' | 'deny' } | undefined {
  const m = ACTION.exec(data ?? '');
  return m ? { id: m[1]!, choice: m[2] as 'approve' | 'deny' } : undefined;
}

export type ButtonOutcome =
  | { ok: true; verdict: 'Approved' | 'Denied'; tool: string }
  | { ok: false; message: string };

/**
 * Answers an approval from a button press in a chat. The request must belong to a session of that
 * chat (`chatSessionKey`, or a thread/user session under it), and the presser must own the DM or be
 * allowed (`<PLATFORM>_ALLOW_FROM` or paired). The decision is recorded once, then the parked turn
 * is woken.
 */
export async function answerApprovalButton(
  deps: { board: ApprovalBoard; turns: TurnQueue; access: ChannelAccess; account: string },
  press: { data: string | undefined; chatSessionKey: string; presserId: string; ownDm: boolean; platform: string },
): Promise<ButtonOutcome> {
  const action = parseApprovalAction(press.data);
  if (!action) return { ok: false, message: 'This button is not understood.' };
  const state = await deps.board.get(action.id);
  if (!state || (state.sessionKey !== press.chatSessionKey && !state.sessionKey.startsWith(`${press.chatSessionKey}:`))) {
    return { ok: false, message: 'This request is no longer valid.' };
  }
  if (!press.ownDm && !(await deps.access.isAllowed(press.presserId))) return { ok: false, message: 'You are not allowed to answer this request.' };
  const result = await deps.board.decide(action.id, action.choice === 'approve' ? 'approved' : 'denied', deps.account, `${press.platform}:${press.presserId}`);
  if (!result.ok) return { ok: false, message: result.code === 'not_found' ? 'This request is no longer valid.' : `Already ${result.status ?? 'decided'}.` };
  await deps.turns.request(result.state.sessionKey);
  return { ok: true, verdict: action.choice === 'approve' ? 'Approved' : 'Denied', tool: state.tool };
}

/** Plain-text summary of an approval request, for platforms that render their own markup around it. */
export function approvalSummary(tool: string, args: unknown, maxChars = 2500): { tool: string; argsJson: string } {
  const json = JSON.stringify(args ?? {}, null, 2);
  return { tool, argsJson: json.length > maxChars ? `${headOf(json, maxChars)}…` : json };
}
