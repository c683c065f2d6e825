import { z } from 'zod';
import { defineTool } from '@switchboard/tools';

/** A harmless built-in: returns its text. Lets the whole tool path run in tests and demos. */
export const echoTool = defineTool({
  name: 'echo',
  description: 'Return the given text unchanged. Useful to test that tools work.',
  risk: 'low',
  // Returns the model's own argument: nothing from outside.
  outputTrusted: true,
  timeoutMs: 5_000,
  parameters: z.object({ text: z.string().max(10_000).describe('The text to return') }),
  execute: async ({ text }) => text,
});
