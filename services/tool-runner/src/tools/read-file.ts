import { z } from 'zod';
import { defineTool, type ToolPlugin } from '@switchboard/tools';
import { WorkspaceFs } from '../sandbox/workspace-fs.ts';
import { ToolError } from './tool-error.ts';

/** Largest file `read_file` reads, in bytes (1 MiB); larger files are for `shell` (head, sed -n). */
export const READ_FILE_MAX_BYTES = 1024 * 1024;

/** `read_file`: a text file from the session workspace, optionally a range of lines. */
export function createReadFileTool(opts: { maxBytes?: number } = {}): ToolPlugin {
  const maxBytes = opts.maxBytes ?? READ_FILE_MAX_BYTES;
  const tool = defineTool({
    name: 'read_file',
    description: 'Read a UTF-8 text file from your workspace. The path is relative to the workspace. Optionally give a 1-based start line and a number of lines.',
    risk: 'low',
    usesWorkspace: true,
    timeoutMs: 10_000,
    parameters: z.object({
      path: z.string().min(1).max(4096).describe('Path relative to the workspace'),
      startLine: z.number().int().min(1).optional().describe('First line to return (1-based, default 1)'),
      lineCount: z.number().int().min(1).optional().describe('Number of lines to return (default: to the end)'),
    }),
    async execute({ path, startLine, lineCount }, ctx) {
      const fs = await WorkspaceFs.open(ctx.workspaceDir);
      const handle = await fs.openFile(path);
      let bytes: Buffer;
      try {
        const { size } = await handle.stat();
        if (size > maxBytes) throw new ToolError('too_large', `"${path}" is ${size} bytes, more than the ${maxBytes} read_file reads; use shell (head, tail, sed -n) for parts of it`);
        // Read at most maxBytes + 1 even if the file grows meanwhile.
        const buffer = Buffer.alloc(Math.min(size, maxBytes) + 1);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        if (bytesRead > maxBytes) throw new ToolError('too_large', `"${path}" is larger than ${maxBytes} bytes`);
        bytes = buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
      if (bytes.subarray(0, 8192).includes(0)) return `"${path}" is a binary file (${bytes.length} bytes); not shown`;
      const text = bytes.toString('utf8');
      if (startLine === undefined && lineCount === undefined) return text;
      const lines = text.split('\n');
      const from = (startLine ?? 1) - 1;
      return lines.slice(from, lineCount === undefined ? undefined : from + lineCount).join('\n');
    },
  });
  return tool as unknown as ToolPlugin;
}
