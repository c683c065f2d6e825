import { describe, expect, it } from 'vitest';
import { StreamAssembler } from './stream-assembler.ts';

describe('StreamAssembler', () => {
  it('joins argument fragments by index, even when calls interleave', () => {
    const a = new StreamAssembler();
    a.push({ choices: [{ delta: { role: 'assistant', content: '' } as never }] });
    a.push({ choices: [{ delta: { tool_calls: [{ index: 1, id: 'c2', function: { name: 'b', arguments: '' } }] } }] });
    a.push({ choices: [{ delta: { tool_calls: [{ index: 0, id: 'c1', function: { name: 'a', arguments: '{"x"' } }] } }] });
    a.push({ choices: [{ delta: { tool_calls: [{ index: 1, function: { arguments: '{"y":2}' } }] } }] });
    a.push({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] } }] });
    a.push({ choices: [{ delta: {}, finish_reason: 'tool_calls' }] });
    a.push({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 3 } });
    expect(a.result()).toEqual({
      content: '',
      toolCalls: [
        { id: 'c1', name: 'a', argumentsJson: '{"x":1}' },
        { id: 'c2', name: 'b', argumentsJson: '{"y":2}' },
      ],
      finishReason: 'tool_calls',
      usage: { promptTokens: 5, completionTokens: 3 },
    });
  });

  it('returns text fragments, tolerates a missing index and id, and reports a cut stream', () => {
    const a = new StreamAssembler();
    expect(a.push({ choices: [{ delta: { content: 'Hi' } }] })).toBe('Hi');
    expect(a.push({ choices: [{ delta: { content: null } }] })).toBe('');
    a.push({ choices: [{ delta: { tool_calls: [{ function: { name: 'f', arguments: '{}' } }] } }] });
    const result = a.result();
    expect(result.content).toBe('Hi');
    expect(result.toolCalls[0]).toMatchObject({ name: 'f', argumentsJson: '{}', id: expect.stringMatching(/^call_0_/) });
    expect(result.finishReason).toBeUndefined();
    expect(result.usage).toBeUndefined();
  });

  it('keeps calls apart that a server sends at the same index, each with its own id', () => {
    const a = new StreamAssembler();
    a.push({ choices: [{ delta: { tool_calls: [{ index: 0, id: 'c1', function: { name: 'read', arguments: '{"path":' } }] } }] });
    a.push({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '"a"}' } }] } }] });
    a.push({ choices: [{ delta: { tool_calls: [{ index: 0, id: 'c2', function: { name: 'read', arguments: '{"path":"b"}' } }] } }] });
    a.push({ choices: [{ delta: { tool_calls: [{ id: 'c3', function: { name: 'list', arguments: '{}' } }] } }] });
    expect(a.result().toolCalls).toEqual([
      { id: 'c1', name: 'read', argumentsJson: '{"path":"a"}' },
      { id: 'c2', name: 'read', argumentsJson: '{"path":"b"}' },
      { id: 'c3', name: 'list', argumentsJson: '{}' },
    ]);
  });

  it('makes a repeated call id unique, so each result answers one call', () => {
    const a = new StreamAssembler();
    a.push({ choices: [{ delta: { tool_calls: [{ index: 0, id: 'dup', function: { name: 'a', arguments: '{}' } }, { index: 1, id: 'dup', function: { name: 'b', arguments: '{}' } }] } }] });
    a.push({ choices: [{ delta: { tool_calls: [{ index: 2, id: 'dup', function: { name: 'c', arguments: '{}' } }] } }] });
    expect(a.result().toolCalls.map((c) => [c.id, c.name])).toEqual([
      ['dup', 'a'],
      ['dup_2', 'b'],
      ['dup_3', 'c'],
    ]);
  });
});
