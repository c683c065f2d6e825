import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifySlackSignature } from './verify.ts';

// Slack's documented example: https://docs.slack.dev/authentication/verifying-requests-from-slack
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const TS = '1531420618';
const SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
const at = (sec: number) => sec * 1000;

describe('verifySlackSignature', () => {
  it("accepts Slack's documented example", () => {
    expect(verifySlackSignature(SECRET, { timestamp: TS, signature: SIGNATURE }, Buffer.from(BODY), at(Number(TS) + 10))).toEqual({ ok: true });
  });

  it('refuses a changed body, a wrong secret and a wrong version', () => {
    expect(verifySlackSignature(SECRET, { timestamp: TS, signature: SIGNATURE }, Buffer.from(`${BODY}x`), at(Number(TS))).ok).toBe(false);
    expect(verifySlackSignature('another-secret-123', { timestamp: TS, signature: SIGNATURE }, BODY, at(Number(TS))).ok).toBe(false);
    expect(verifySlackSignature(SECRET, { timestamp: TS, signature: SIGNATURE.replace('v0=', 'v1=') }, BODY, at(Number(TS))).ok).toBe(false);
    expect(verifySlackSignature(SECRET, { timestamp: TS, signature: undefined }, BODY, at(Number(TS))).ok).toBe(false);
    expect(verifySlackSignature(SECRET, { timestamp: undefined, signature: SIGNATURE }, BODY, at(Number(TS))).ok).toBe(false);
  });

  it('refuses a timestamp more than five minutes off, in the past or the future (replays)', () => {
    const sig = (ts: number) => `v0=${createHmac('sha256', SECRET).update(`v0:${ts}:${BODY}`).digest('hex')}`;
    const now = 1_700_000_000;
    expect(verifySlackSignature(SECRET, { timestamp: String(now - 299), signature: sig(now - 299) }, BODY, at(now)).ok).toBe(true);
    expect(verifySlackSignature(SECRET, { timestamp: String(now - 301), signature: sig(now - 301) }, BODY, at(now))).toEqual({ ok: false, reason: expect.stringMatching(/5 minutes/) });
    expect(verifySlackSignature(SECRET, { timestamp: String(now + 301), signature: sig(now + 301) }, BODY, at(now)).ok).toBe(false);
    expect(verifySlackSignature(SECRET, { timestamp: 'soon', signature: sig(now) }, BODY, at(now)).ok).toBe(false);
  });

  it('checks the raw bytes, not a re-encoding of them', () => {
    const raw = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]); // {"a":"<invalid utf-8>"}
    const ts = 1_700_000_000;
    const signature = `v0=${createHmac('sha256', SECRET).update(Buffer.concat([Buffer.from(`v0:${ts}:`), raw])).digest('hex')}`;
    expect(verifySlackSignature(SECRET, { timestamp: String(ts), signature }, raw, at(ts)).ok).toBe(true);
  });
});
