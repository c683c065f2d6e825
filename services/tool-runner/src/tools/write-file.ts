import { z } from 'zod';
import { defineTool, type ToolPlugin } from '@switchboard/tools';
import { assertWithinQuota } from '../sandbox/quota.ts';
import { normalizeWorkspacePath, WorkspaceFs } from '../sandbox/workspace-fs.ts';
import { ToolError } from './tool-error.ts';

/** Largest content `write_file` accepts, in characters (1 Mi). */
export const WRITE_FILE_MAX_CHARS = 1024 * 1024;

/**
 * `write_file`: creates or replaces a text file in the session workspace (parents are created).
 * With `quotaBytes`, a write that would take the workspace over that size is refused before
 * anything is created or changed.
 */
export function createWriteFileTool(opts: { maxChars?: number; quotaBytes?: number } = {}): ToolPlugin {
  const maxChars = opts.maxChars ?? WRITE_FILE_MAX_CHARS;
  const tool = defineTool({
    name: 'write_file',
    description: 'Create or overwrite a UTF-8 text file in your workspace (missing parent directories are created). The path is relative to the workspace.',
    risk: 'medium',
    usesWorkspace: true,
    timeoutMs: 10_000,
    parameters: z.object({
      path: z.string().min(1).max(4096).describe('Path relative to the workspace'),
      content: z.string().max(maxChars).describe('The complete new content of the file'),
    }),
    async execute({ path, content }, ctx) {
      const fs = await WorkspaceFs.open(ctx.workspaceDir);
      const bytes = Buffer.from(content, 'utf8');
      if (opts.quotaBytes !== undefined) {
        const replaced = await existingSize(fs, path);
        // The parent directories the write creates take space too (as the quota counts them).
        const newDirs = await missingParents(fs, path);
        await assertWithinQuota(fs.root, opts.quotaBytes, bytes.length - replaced + newDirs * DIRECTORY_BYTES, replaced === 0);
      }
      const { handle, created } = await fs.openForWrite(path);
      try {
        // Truncate only now that the fd is known to be inside the workspace.
        await handle.truncate(0);
        await handle.write(bytes, 0, bytes.length, 0);
      } finally {
        await handle.close();
      }
      return `${created ? 'created' : 'overwrote'} ${path} (${bytes.length} bytes)`;
    },
  });
  return tool as unknown as ToolPlugin;
}

/** What a new directory counts for against the quota (its size as `lstat` reports it on ext4 and most others). */
const DIRECTORY_BYTES = 4096;

/** How many of `path`'s parent directories do not exist yet (the write would create them). */
async function missingParents(fs: WorkspaceFs, path: string): Promise<number> {
  const parents = normalizeWorkspacePath(path).split('/').slice(0, -1);
  for (let depth = parents.length; depth > 0; depth--) {
    try {
      await (await fs.openDir(parents.slice(0, depth).join('/'))).close();
      return parents.length - depth;
    } catch (err) {
      if (!(err instanceof ToolError && err.code === 'not_found')) throw err;
    }
  }
  return parents.length;
}

/** Size of the file at `path` in the workspace, 0 when there is none yet. */
async function existingSize(fs: WorkspaceFs, path: string): Promise<number> {
  try {
    const handle = await fs.openFile(path);
    try {
      return (await handle.stat()).size;
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ToolError && err.code === 'not_found') return 0;
    throw err;
  }
}
