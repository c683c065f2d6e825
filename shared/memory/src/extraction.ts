import { z } from 'zod';
import { storableText } from '@switchboard/contracts';
import type { LlmClient } from '@switchboard/llm';
import type { MemoryKind } from './types.ts';

/** System prompt of the fact-extraction call (exported so model doubles can recognise the call). */
export const EXTRACTION_SYSTEM_PROMPT =
  'You extract durable facts and preferences about the user from a conversation excerpt, for long-term memory. ' +
  'Answer with JSON only: {"memories":[{"content":"...","kind":"fact"|"preference","importance":0.0-1.0}]}. ' +
  'Keep only what will still matter in future conversations: names, relationships, preferences, plans, stable facts about the user and their work. ' +
  'Write each as one standalone sentence in the third person ("The user\'s sister is named Ana."). ' +
  'Skip greetings, questions, one-off requests, and anything the assistant said that the user did not confirm. ' +
  'Answer {"memories":[]} when there is nothing to keep.';

/** One line of the excerpt shown to the extractor. */
export interface ExcerptLine {
  role: 'user' | 'assistant';
  content: string;
}

export interface ExtractedFact {
  content: string;
  kind: MemoryKind;
  importance: number;
}

const Extracted = z.object({ memories: z.array(z.unknown()) });
const Fact = z.object({
  // Storable text: one fact with U+0000 in it must not fail the transaction storing the others.
  content: z.string().trim().min(3).max(500).transform(storableText),
  kind: z.enum(['fact', 'preference', 'note']).catch('fact'),
  importance: z.number().min(0).max(1).catch(0.5),
});
/** Facts kept from one answer: a model that lists more is summarizing, not extracting. */
const MAX_FACTS = 10;

/** Characters of one message shown to the extractor: facts sit in what people say, not in pasted documents. */
const MAX_LINE_CHARS = 2000;

export function excerptText(lines: readonly ExcerptLine[]): string {
  return lines
    .filter((l) => l.content.trim() !== '')
    .map((l) => `${l.role === 'user' ? 'User' : 'Assistant'}: ${l.content.length > MAX_LINE_CHARS ? `${l.content.slice(0, MAX_LINE_CHARS)}…` : l.content}`)
    .join('\n');
}

/**
 * Parses the extractor's answer: the first JSON object in it, each listed fact validated on its
 * own. Anything unparseable yields no fact (the model's mistake must not store garbage as a
 * memory); at most the first ten valid facts are kept.
 */
export function parseExtraction(text: string): ExtractedFact[] {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start === -1 || end <= start) return [];
  try {
    const parsed = Extracted.safeParse(JSON.parse(text.slice(start, end + 1)));
    if (!parsed.success) return [];
    // Each item on its own: one malformed fact drops only itself.
    const facts: ExtractedFact[] = [];
    for (const item of parsed.data.memories) {
      const fact = Fact.safeParse(item);
      if (fact.success) facts.push(fact.data);
      if (facts.length === MAX_FACTS) break;
    }
    return facts;
  } catch {
    return [];
  }
}

/** Asks the model for the durable facts in `lines`. */
export async function extractFacts(llm: LlmClient, lines: readonly ExcerptLine[]): Promise<ExtractedFact[]> {
  const excerpt = excerptText(lines);
  if (excerpt === '') return [];
  const completion = await llm.complete({
    messages: [
      { role: 'system', content: EXTRACTION_SYSTEM_PROMPT },
      { role: 'user', content: `Conversation excerpt:\n${excerpt}` },
    ],
    maxTokens: 400,
  });
  return parseExtraction(completion.content);
}
