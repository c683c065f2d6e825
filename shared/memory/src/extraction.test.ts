import { describe, expect, it } from 'vitest';
import { parseExtraction } from './extraction.ts';

describe('parseExtraction', () => {
  it('keeps the valid facts of an answer in which one is malformed', () => {
    const answer = JSON.stringify({
      memories: [
        { content: 'The user lives in Lisbon.', kind: 'fact', importance: 0.9 },
        { content: 'ok' }, // too short
        { kind: 'fact' }, // no content
        'The user likes tea.', // not an object
        { content: 'The user prefers short answers.', kind: 'whim', importance: 7 },
      ],
    });
    expect(parseExtraction(`Here you go: ${answer}`)).toEqual([
      { content: 'The user lives in Lisbon.', kind: 'fact', importance: 0.9 },
      { content: 'The user prefers short answers.', kind: 'fact', importance: 0.5 },
    ]);
  });

  it('keeps the first ten facts of a long answer instead of dropping them all', () => {
    const memories = Array.from({ length: 25 }, (_, i) => ({ content: `The user owns item number ${i}.` }));
    const facts = parseExtraction(JSON.stringify({ memories }));
    expect(facts.map((f) => f.content)).toEqual(memories.slice(0, 10).map((m) => m.content));
  });

  it('turns text Postgres cannot store into U+FFFD', () => {
    const [fact] = parseExtraction(JSON.stringify({ memories: [{ content: 'The user\u0000 name is \ud800Bo.' }] }));
    expect(fact!.content).toBe('The user\ufffd name is \ufffdBo.');
  });

  it('yields nothing for an answer that is not the expected JSON', () => {
    for (const text of ['no facts here', '{"memories": "none"}', '{broken', '{"other": []}']) expect(parseExtraction(text)).toEqual([]);
  });
});
