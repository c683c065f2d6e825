import { describe, expect, it } from 'vitest';
import { dmPolicyEnv, envBool } from './config.ts';

describe('channel config helpers', () => {
  it('DM policy: pairing when unset or empty (k8s config.env `X=`), else the value, else an error', () => {
    expect(dmPolicyEnv.parse(undefined)).toBe('pairing');
    expect(dmPolicyEnv.parse('')).toBe('pairing');
    expect(dmPolicyEnv.parse('open')).toBe('open');
    expect(dmPolicyEnv.safeParse('everyone').success).toBe(false);
  });

  it('booleans: empty or unset gives the default', () => {
    expect(envBool(true).parse('')).toBe(true);
    expect(envBool(true).parse('no')).toBe(false);
  });
});
