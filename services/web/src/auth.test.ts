import type { NextFunction, Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { apiAuth } from './auth.ts';

function call(keys: string[], remoteAddress: string, authorization?: string, adminKeys: string[] = []) {
  const req = { socket: { remoteAddress }, get: (h: string) => (h.toLowerCase() === 'authorization' ? authorization : undefined) } as unknown as Request;
  let status = 0;
  let body: unknown;
  const res = {
    locals: {} as Record<string, unknown>,
    headersSent: false,
    status(code: number) {
      status = code;
      return this;
    },
    json(b: unknown) {
      body = b;
      return this;
    },
  } as unknown as Response;
  let passed = false;
  apiAuth(keys, adminKeys)(req, res, (() => (passed = true)) as NextFunction);
  return { status, body, passed, caller: res.locals.caller };
}

describe('apiAuth', () => {
  it('without keys serves loopback clients only', () => {
    expect(call([], '127.0.0.1').passed).toBe(true);
    expect(call([], '::1').passed).toBe(true);
    expect(call([], '::ffff:127.0.0.1').passed).toBe(true);
    for (const remote of ['10.0.0.5', '192.168.1.2', '::ffff:10.1.1.1', '2001:db8::1']) {
      const r = call([], remote);
      expect(r.passed).toBe(false);
      expect(r.status).toBe(403);
    }
  });

  it('with keys requires a matching bearer token, from anywhere', () => {
    expect(call(['k1'], '10.0.0.5', 'Bearer k1').passed).toBe(true);
    expect(call(['k1'], '127.0.0.1').status).toBe(401);
    expect(call(['k1'], '10.0.0.5', 'Bearer k2').status).toBe(401);
    expect(call(['k1'], '10.0.0.5', 'Basic k1').status).toBe(401);
  });

  it('gives each key its own account, never the key itself', () => {
    const a = call(['alpha', 'beta'], '10.0.0.5', 'Bearer alpha').caller as { account: string };
    const b = call(['alpha', 'beta'], '10.0.0.5', 'Bearer beta').caller as { account: string };
    expect(a.account).not.toBe(b.account);
    expect(a.account).not.toContain('alpha');
  });

  it('makes a key listed both as an API key and as an admin key an operator', () => {
    expect(call(['both', 'user'], '10.0.0.5', 'Bearer both', ['both']).caller).toMatchObject({ operator: true });
    expect(call(['user'], '10.0.0.5', 'Bearer user', ['ops']).caller).not.toHaveProperty('operator');
    expect(call([], '10.0.0.5', 'Bearer ops', ['ops']).caller).toMatchObject({ operator: true });
  });
});
