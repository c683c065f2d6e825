import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { issueList, issuesText } from './errors.ts';

describe('zod issues as text', () => {
  const error = z.object({ a: z.object({ b: z.number() }), c: z.string() }).safeParse({ a: { b: 'x' } }).error!;

  it('names each field by its path, under a prefix when given', () => {
    expect(issueList(error.issues)).toEqual([
      { path: 'a.b', message: expect.stringMatching(/expected number/) },
      { path: 'c', message: expect.stringMatching(/expected string/) },
    ]);
    expect(issuesText(error.issues, 'event')).toMatch(/^event\.a\.b: .*expected number.*; event\.c: .*expected string/);
  });

  it('says (root) for the value itself', () => {
    expect(issuesText(z.number().safeParse('x').error!.issues)).toMatch(/^\(root\): .*expected number/);
  });
});
