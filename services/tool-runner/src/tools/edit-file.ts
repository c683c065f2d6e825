import { constants } from 'node:fs';
import { z } from 'zod';
import { defineTool, type ToolPlugin } from '@switchboard/tools';
import { assertWithinQuota } from '../sandbox/quota.ts';
import { WorkspaceFs } from '../sandbox/workspace-fs.ts';
import { ToolError } from './tool-error.ts';

/** Largest file `edit_file` edits, in bytes (1 MiB). */
export const EDIT_FILE_MAX_BYTES = 1024 * 1024;

function countOccurrences(bytes: Buffer, needle: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(needle); at !== -1 && count < 2; at = bytes.indexOf(needle, at + 1)) count++;
  return count;
}

/** `edit_file`: replaces one exact, unique piece of text in a workspace file. */
export function createEditFileTool(opts: { maxBytes?: number; quotaBytes?: number } = {}): ToolPlugin {
  const maxBytes = opts.maxBytes ?? EDIT_FILE_MAX_BYTES;
  const tool = defineTool({
    name: 'edit_file',
    description:
      'Replace an exact piece of text in a workspace file. oldText must occur exactly once in the file (include surrounding lines to make it unique); it is replaced by newText.',
    risk: 'medium',
    usesWorkspace: true,
    timeoutMs: 10_000,
    parameters: z.object({
      path: z.string().min(1).max(4096).describe('Path relative to the workspace'),
      oldText: z.string().min(1).max(maxBytes).describe('The exact text to replace; must occur exactly once'),
      newText: z.string().max(maxBytes).describe('The replacement text'),
    }),
    async execute({ path, oldText, newText }, ctx) {
      const fs = await WorkspaceFs.open(ctx.workspaceDir);
      // One fd for read and write: the file checked is the file written.
      const handle = await fs.openFile(path, constants.O_RDWR);
      try {
        const { size } = await handle.stat();
        if (size > maxBytes) throw new ToolError('too_large', `"${path}" is ${size} bytes, more than the ${maxBytes} edit_file edits`);
        const buffer = Buffer.alloc(size);
        const { bytesRead } = await handle.read(buffer, 0, size, 0);
        // Bytes, not decoded text: what is not valid UTF-8 (a Latin-1 line, a binary blob) stays as it was.
        const bytes = buffer.subarray(0, bytesRead);
        const needle = Buffer.from(oldText, 'utf8');
        const count = countOccurrences(bytes, needle);
        if (count === 0) throw new ToolError('not_found', `oldText does not occur in "${path}"; read the file and copy the text exactly`);
        if (count > 1) throw new ToolError('not_unique', `oldText occurs more than once in "${path}"; include more surrounding text so it is unique`);
        const at = bytes.indexOf(needle);
        const updated = Buffer.concat([bytes.subarray(0, at), Buffer.from(newText, 'utf8'), bytes.subarray(at + needle.length)]);
        if (opts.quotaBytes !== undefined) await assertWithinQuota(fs.root, opts.quotaBytes, updated.length - bytesRead);
        await handle.truncate(0);
        await handle.write(updated, 0, updated.length, 0);
        return `edited ${path}: replaced ${Buffer.byteLength(oldText)} bytes with ${Buffer.byteLength(newText)} bytes`;
      } finally {
        await handle.close();
      }
    },
  });
  return tool as unknown as ToolPlugin;
}
