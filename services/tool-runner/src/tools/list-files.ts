import { lstat, readlink, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { defineTool, type ToolPlugin } from '@switchboard/tools';
import { normalizeWorkspacePath, WorkspaceFs } from '../sandbox/workspace-fs.ts';

/** Most entries `list_files` returns (default 200, at most 2000). */
export const LIST_FILES_MAX_ENTRIES = 2000;
/** Deepest directory level a recursive listing descends to. */
export const LIST_FILES_MAX_DEPTH = 8;

/** `list_files`: the entries of a workspace directory, optionally recursive; never follows symlinks. */
export function createListFilesTool(): ToolPlugin {
  const tool = defineTool({
    name: 'list_files',
    description: 'List files and directories in your workspace. Directories end with "/", files show their size, symlinks are shown as "name -> target". Optionally recursive.',
    risk: 'low',
    usesWorkspace: true,
    timeoutMs: 10_000,
    parameters: z.object({
      path: z.string().max(4096).optional().describe('Directory relative to the workspace (default: the workspace itself)'),
      recursive: z.boolean().optional().describe(`List subdirectories too (up to ${LIST_FILES_MAX_DEPTH} levels)`),
      maxEntries: z.number().int().min(1).max(LIST_FILES_MAX_ENTRIES).optional().describe('Most entries to return (default 200)'),
    }),
    async execute({ path, recursive, maxEntries }, ctx) {
      const fs = await WorkspaceFs.open(ctx.workspaceDir);
      const base = normalizeWorkspacePath(path ?? '.');
      const limit = maxEntries ?? 200;
      const lines: string[] = [];
      let more = false;
      const walk = async (dir: FileHandle, prefix: string, depth: number): Promise<void> => {
        for (const entry of await fs.readDir(dir)) {
          if (lines.length >= limit) {
            more = true;
            return;
          }
          const rel = prefix + entry.name;
          // Looked up below the verified directory fd, never through a symlink.
          const at = `/proc/self/fd/${dir.fd}/${entry.name}`;
          if (entry.isSymbolicLink()) {
            lines.push(`${rel} -> ${await readlink(at).catch(() => '?')}`);
          } else if (entry.isDirectory()) {
            lines.push(`${rel}/`);
            if (recursive && depth < LIST_FILES_MAX_DEPTH) {
              const child = await fs.openChildDir(dir, entry.name, rel);
              try {
                await walk(child, `${rel}/`, depth + 1);
              } finally {
                await child.close();
              }
            }
          } else if (entry.isFile()) {
            const size = await lstat(at).then((st) => st.size).catch(() => undefined);
            lines.push(size === undefined ? rel : `${rel} (${size} B)`);
          } else {
            lines.push(`${rel} (special file)`);
          }
        }
      };
      const dir = await fs.openDir(base);
      try {
        await walk(dir, base === '.' ? '' : `${base}/`, 1);
      } finally {
        await dir.close();
      }
      if (lines.length === 0) return `${base === '.' ? 'the workspace' : base} is empty`;
      if (more) lines.push(`[stopped after ${limit} entries]`);
      return lines.join('\n');
    },
  });
  return tool as unknown as ToolPlugin;
}
