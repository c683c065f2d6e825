import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, PolicyEngine } from './index.ts';

const rules = {
  default: 'allow' as const,
  rules: [
    { tool: 'shell', args: { command: '^\\s*(rm|sudo|curl)\\b' }, decision: 'ask' as const, reason: 'destructive or networked shell command' },
    { tool: 'shell', channel: 'telegram', decision: 'deny' as const },
    { tool: 'mcp__github__*', user: ['alice'], decision: 'allow' as const },
    { tool: 'mcp__github__*', decision: 'deny' as const, reason: 'only alice may use GitHub' },
    { tool: 'write_file', agent: 'readonly-*', decision: 'deny' as const },
  ],
};

describe('PolicyEngine', () => {
  const engine = new PolicyEngine(rules);

  it('asks for shell commands matching a pattern and allows the rest', () => {
    expect(engine.decide({ tool: 'shell', channel: 'web' }, { command: 'rm -rf /workspace/x' }).decision).toBe('ask');
    expect(engine.decide({ tool: 'shell', channel: 'web' }, { command: '  sudo ls' }).decision).toBe('ask');
    expect(engine.decide({ tool: 'shell', channel: 'web' }, { command: 'ls -la' }).decision).toBe('allow');
    expect(engine.decide({ tool: 'shell', channel: 'web' }, { command: 'echo rm' }).decision).toBe('allow');
  });

  it('decides by channel, user and agent; first matching rule wins', () => {
    expect(engine.decide({ tool: 'shell', channel: 'telegram' }, { command: 'ls' }).decision).toBe('deny');
    expect(engine.decide({ tool: 'mcp__github__create_issue', user: 'alice' }, {}).decision).toBe('allow');
    const bob = engine.decide({ tool: 'mcp__github__create_issue', user: 'bob' }, {});
    expect(bob).toMatchObject({ decision: 'deny', reason: 'only alice may use GitHub' });
    expect(engine.decide({ tool: 'write_file', agent: 'readonly-bot' }, {}).decision).toBe('deny');
    expect(engine.decide({ tool: 'write_file', agent: 'main' }, {}).decision).toBe('allow');
  });

  it('does not offer tools denied whatever their arguments, and still offers ones denied only for some arguments', () => {
    expect(engine.offers({ tool: 'shell', channel: 'telegram' })).toBe(false);
    expect(engine.offers({ tool: 'shell', channel: 'web' })).toBe(true);
    expect(engine.offers({ tool: 'mcp__github__x', user: 'bob' })).toBe(false);
  });

  it('applies TOOLS_ENABLED and TOOLS_ASK on top of the rules', () => {
    const e = new PolicyEngine(rules, { enabled: ['shell', 'echo'], ask: ['echo'] });
    expect(e.decide({ tool: 'read_file' }, {}).decision).toBe('deny');
    expect(e.offers({ tool: 'read_file' })).toBe(false);
    expect(e.decide({ tool: 'echo' }, {}).decision).toBe('ask');
    // TOOLS_ASK never loosens a deny.
    expect(new PolicyEngine(rules, { ask: ['shell'] }).decide({ tool: 'shell', channel: 'telegram' }, {}).decision).toBe('deny');
  });

  it('uses the default when no rule matches', () => {
    expect(new PolicyEngine({ default: 'deny', rules: [] }).decide({ tool: 'echo' }, {}).decision).toBe('deny');
  });
});

describe('loadPolicyFile', () => {
  it('reads YAML and rejects bad files with the field path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    const good = join(dir, 'good.yaml');
    await writeFile(good, 'default: allow\nrules:\n  - tool: shell\n    decision: ask\n    args: { command: "^rm" }\n');
    expect((await loadPolicyFile(good)).rules[0]).toMatchObject({ tool: ['shell'], decision: 'ask' });
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'rules:\n  - tool: shell\n    decision: maybe\n');
    await expect(loadPolicyFile(bad)).rejects.toThrow(/rules\.0\.decision/);
    const badRe = join(dir, 'bad-re.yaml');
    await writeFile(badRe, 'rules:\n  - tool: shell\n    decision: deny\n    args: { command: "([" }\n');
    await expect(loadPolicyFile(badRe)).rejects.toThrow(/rules\.0\.args\.command: not a regular expression/);
    await expect(loadPolicyFile(join(dir, 'missing.yaml'))).rejects.toThrow(/could not be read/);
  });

  it('gives per-scope tool settings: every matching entry in order, later ones overriding', () => {
    const scoped = new PolicyEngine({
      settings: [
        { tool: '*', timeoutMs: 30_000 },
        { tool: 'shell', channel: 'telegram', timeoutMs: 5_000, options: { note: 'chat' } },
        { tool: 'shell', user: 'alice', maxOutputBytes: 1024, options: { note: 'alice', extra: true } },
        { tool: 'web_fetch', agent: 'research-*', options: { maxBytes: 1_000_000 } },
      ],
    });
    expect(scoped.settings({ tool: 'shell', channel: 'web' })).toEqual({ timeoutMs: 30_000, options: {} });
    expect(scoped.settings({ tool: 'shell', channel: 'telegram', user: 'bob' })).toEqual({ timeoutMs: 5_000, options: { note: 'chat' } });
    expect(scoped.settings({ tool: 'shell', channel: 'telegram', user: 'alice' })).toEqual({ timeoutMs: 5_000, maxOutputBytes: 1024, options: { note: 'alice', extra: true } });
    expect(scoped.settings({ tool: 'web_fetch', agent: 'research-bot' }).options).toEqual({ maxBytes: 1_000_000 });
    expect(scoped.settings({ tool: 'web_fetch', agent: 'other' }).options).toEqual({});
    // Bad settings are refused when the policy is loaded.
    expect(() => new PolicyEngine({ settings: [{ tool: 'shell', timeoutMs: -1 }] })).toThrow();
    expect(() => new PolicyEngine({ settings: [{ tool: 'shell', color: 'red' } as never] })).toThrow();
  });
});
