import { describe, expect, it } from 'vitest';
import { countMessageTokens, countTokens, isTokenizerLoaded } from './tokens.ts';

describe('token counting (o200k_base)', () => {
  it('loads the encoding lazily and counts real tokens', () => {
    expect(isTokenizerLoaded()).toBe(false);
    expect(countTokens('')).toBe(0);
    expect(isTokenizerLoaded()).toBe(false);
    expect(countTokens('hello world')).toBe(2);
    expect(isTokenizerLoaded()).toBe(true);
    // o200k_base merges far more than a 4-characters-per-token guess on long words.
    expect(countTokens('internationalization')).toBeLessThan(5);
  });

  it('treats special-token text in user input as plain text', () => {
    expect(countTokens('<|endoftext|>')).toBeGreaterThan(1);
  });

  it('counts messages with the cookbook overheads', () => {
    const one = countMessageTokens([{ role: 'user', content: 'hello world' }]);
    // 3 per message + "user" (1) + content (2) + 3 reply priming.
    expect(one).toBe(3 + 1 + 2 + 3);
    expect(countMessageTokens([{ role: 'user', content: 'hello world', name: 'bob' }])).toBe(one + 1 + countTokens('bob'));
    const withCall = countMessageTokens([
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'read_file', arguments: '{"path":"/a"}' } }] },
      { role: 'tool', content: 'file body', tool_call_id: 'c1' },
    ]);
    expect(withCall).toBeGreaterThan(countMessageTokens([{ role: 'tool', content: 'file body', tool_call_id: 'c1' }]));
    expect(countMessageTokens([{ role: 'user', content: [{ type: 'text', text: 'hello world' }] }])).toBe(one);
  });
});

describe('countTokens on long texts', () => {
  it('gives the same count for a remembered text as for a fresh one, and tells different texts apart', () => {
    const schema = JSON.stringify({ name: 'read_file', description: 'Reads a file. '.repeat(40) });
    const first = countTokens(schema);
    expect(countTokens(schema)).toBe(first);

    expect(countTokens(schema.replace('Reads', 'Reads and reads'))).toBeGreaterThan(first);
    for (let i = 0; i < 100; i++) countTokens(`${i} ${schema}`);
    expect(countTokens(schema)).toBe(first);
  });
});

describe('readO200kRanks', () => {
  it('matches the ranks the library ships as a JS module, entry for entry', async () => {
    const { readO200kRanks } = await import('./tokens.ts');
    const { createRequire } = await import('node:module');
    const shipped = createRequire(import.meta.url)('gpt-tokenizer/bpeRanks/o200k_base').default as unknown[];
    const ours = readO200kRanks();
    expect(ours.length).toBe(shipped.length);
    let differences = 0;
    for (let i = 0; i < shipped.length; i++) {
      const a = shipped[i];
      const b = ours[i];
      if (typeof a === 'string' ? a !== b : JSON.stringify(a) !== JSON.stringify(b)) differences++;
    }
    expect(differences).toBe(0);
  });
});
