/**
 * Before the fix: `offers` is documented to be false "only when it is denied whatever
 * its arguments (rules with argument conditions cannot deny a tool before it is called)". It
 * evaluates the rules with every argument-conditioned rule skipped, so an argument-conditioned
 * ALLOW (or ASK) rule is skipped too and the tool falls through to a later deny or the default.
 * An allow list by argument (`default: deny`, "shell may run `ls`", "web_fetch may fetch docs.*")
 * then never offers the tool at all, although `decide` allows exactly those calls: the allow list
 * is useless. (An explicit rule without conditions that denies the tool still hides it, as the
 * existing engine test expects.)
 */
import { describe, expect, it } from 'vitest';
import { PolicyEngine } from './engine.ts';

describe('PolicyEngine.offers: argument-conditioned allow rules', () => {
  it('offers a tool that some arguments are allowed for, under default deny', () => {
    const engine = new PolicyEngine({ default: 'deny', rules: [{ tool: 'web_fetch', args: { url: '^https://docs\\.example\\.com/' }, decision: 'allow' }] });
    expect(engine.decide({ tool: 'web_fetch' }, { url: 'https://docs.example.com/a' }).decision).toBe('allow');
    expect(engine.offers({ tool: 'web_fetch' })).toBe(true);
    // Nothing allows other tools.
    expect(engine.offers({ tool: 'shell' })).toBe(false);
  });

  it('offers a tool that an argument-conditioned ask rule lets through under default deny', () => {
    const engine = new PolicyEngine({
      default: 'deny',
      rules: [
        { tool: 'shell', args: { command: '^ls( |$)' }, decision: 'allow' },
        { tool: 'http_request', args: { method: '^GET$' }, decision: 'ask' },
      ],
    });
    expect(engine.decide({ tool: 'shell' }, { command: 'ls -la' }).decision).toBe('allow');
    expect(engine.decide({ tool: 'http_request' }, { method: 'GET' }).decision).toBe('ask');
    expect(engine.offers({ tool: 'shell' })).toBe(true);
    expect(engine.offers({ tool: 'http_request' })).toBe(true);
  });

  it('still hides tools denied whatever their arguments', () => {
    const engine = new PolicyEngine({
      rules: [
        { tool: 'shell', args: { command: 'rm' }, decision: 'deny' },
        { tool: 'shell', channel: 'telegram', decision: 'deny' },
        { tool: 'shell', args: { command: '^ls' }, decision: 'allow' },
      ],
    });
    // A rule without argument conditions that denies the tool hides it, conditioned rules or not.
    const explicit = new PolicyEngine({ default: 'deny', rules: [{ tool: 'shell', args: { command: '^ls' }, decision: 'allow' }, { tool: 'shell', decision: 'deny' }] });
    expect(explicit.offers({ tool: 'shell' })).toBe(false);
    expect(new PolicyEngine({ default: 'deny', rules: [{ tool: 'shell', args: { command: 'rm' }, decision: 'deny' }] }).offers({ tool: 'shell' })).toBe(false);
    expect(new PolicyEngine({ default: 'deny', rules: [{ tool: 'shell', channel: 'web', args: { command: '^ls' }, decision: 'allow' }] }).offers({ tool: 'shell', channel: 'telegram' })).toBe(false);
    // The unconditional deny comes first for telegram: the later conditioned allow is never reached.
    expect(engine.offers({ tool: 'shell', channel: 'telegram' })).toBe(false);
    expect(engine.offers({ tool: 'shell', channel: 'web' })).toBe(true);
    expect(new PolicyEngine({ default: 'deny', rules: [{ tool: 'shell', args: { command: '^ls' }, decision: 'allow' }] }, { enabled: ['echo'] }).offers({ tool: 'shell' })).toBe(false);
  });
});
