import { describe, expect, it } from 'vitest';
import { base64Bytes, contentToText } from './content.ts';
import { assignMcpToolNames, MAX_TOOL_NAME_LENGTH } from './names.ts';

describe('assignMcpToolNames', () => {
  it('keeps valid names and replaces other characters with _', () => {
    const { names, skipped } = assignMcpToolNames('gh', ['create_issue', 'get-file', 'repo.list', 'ユーザー']);
    expect([...names.values()]).toEqual(['mcp__gh__create_issue', 'mcp__gh__get-file', 'mcp__gh__repo_list', 'mcp__gh______']);
    expect(skipped).toEqual([]);
  });

  it('cuts names over 64 characters and keeps them apart with a hash of the original', () => {
    const a = `${'x'.repeat(70)}_alpha`;
    const b = `${'x'.repeat(70)}_beta`;
    const { names } = assignMcpToolNames('server', [a, b]);
    const [na, nb] = [names.get(a)!, names.get(b)!];
    expect(na).toHaveLength(MAX_TOOL_NAME_LENGTH);
    expect(nb).toHaveLength(MAX_TOOL_NAME_LENGTH);
    expect(na).toMatch(/^mcp__server__x+_[0-9a-f]{6}$/);
    expect(na).not.toBe(nb);
  });

  it('resolves clashes the same way whatever the order: the exact name wins, others get a hash', () => {
    const one = assignMcpToolNames('s', ['a.b', 'a_b', 'a b']);
    const two = assignMcpToolNames('s', ['a b', 'a_b', 'a.b']);
    expect(one.names.get('a_b')).toBe('mcp__s__a_b');
    expect(one.names.get('a.b')).toMatch(/^mcp__s__a_b_[0-9a-f]{6}$/);
    expect(one.names.get('a b')).toMatch(/^mcp__s__a_b_[0-9a-f]{6}$/);
    expect(one.names.get('a.b')).not.toBe(one.names.get('a b'));
    expect([...two.names.entries()].sort()).toEqual([...one.names.entries()].sort());
    // Without an exact owner, every clashing tool gets a hash.
    const none = assignMcpToolNames('s', ['a.b', 'a b']);
    expect([...none.names.values()].every((n) => /_[0-9a-f]{6}$/.test(n))).toBe(true);
  });

  it('skips a tool the server lists twice', () => {
    const { names, skipped } = assignMcpToolNames('s', ['t', 't']);
    expect(names.size).toBe(1);
    expect(skipped).toEqual([{ tool: 't', reason: expect.stringMatching(/more than once/) }]);
  });
});

describe('contentToText', () => {
  it('sizes base64 without decoding it', () => {
    for (const n of [0, 1, 2, 3, 4, 100]) expect(base64Bytes(Buffer.alloc(n).toString('base64'))).toBe(n);
  });

  it('shows structured content when there are no content parts, and names unknown parts', () => {
    expect(contentToText([], { temperature: 21 })).toBe('{\n  "temperature": 21\n}');
    expect(contentToText(undefined)).toBe('(no content)');
    expect(contentToText([{ type: 'hologram' }])).toBe('[hologram content, not shown]');
  });
});
