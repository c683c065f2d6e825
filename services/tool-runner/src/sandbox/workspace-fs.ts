import { constants, type Dirent } from 'node:fs';
import { mkdir, open, opendir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { ToolError } from '../tools/tool-error.ts';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;

/** The longest file or directory name Linux file systems take, in bytes. */
const NAME_MAX = 255;

/**
 * Checks a path the model gave: relative, no NUL, and not leaving the workspace lexically.
 * Returns it normalised (`.` for the workspace itself).
 */
export function normalizeWorkspacePath(input: string): string {
  if (input.includes('\0')) throw new ToolError('invalid_path', 'the path contains a NUL character');
  if (input.startsWith('/') || input.startsWith('~')) {
    throw new ToolError('invalid_path', `absolute paths are not allowed; give a path relative to the workspace (got "${input}")`);
  }
  const normal = posix.normalize(input === '' ? '.' : input).replace(/\/+$/, '') || '.';
  if (normal === '..' || normal.startsWith('../')) throw new ToolError('path_escape', `"${input}" points outside the workspace`);
  // Checked before anything is created: a name the file system refuses would fail a write only
  // after its parent directories were made.
  const long = normal.split('/').find((part) => Buffer.byteLength(part) > NAME_MAX);
  if (long !== undefined) throw new ToolError('invalid_path', `a name in the path is longer than ${NAME_MAX} bytes ("${long.slice(0, 40)}…")`);
  return normal;
}

function fsError(err: unknown, rel: string): ToolError {
  const code = (err as NodeJS.ErrnoException).code;
  if (err instanceof ToolError) return err;
  if (code === 'ENOENT') return new ToolError('not_found', `"${rel}" does not exist`, { cause: err });
  if (code === 'ENOTDIR') return new ToolError('not_a_directory', `a part of "${rel}" is not a directory`, { cause: err });
  if (code === 'EISDIR') return new ToolError('not_a_file', `"${rel}" is a directory`, { cause: err });
  if (code === 'ELOOP') return new ToolError('path_escape', `"${rel}" is or passes through a symlink that cannot be followed`, { cause: err });
  if (code === 'ENXIO' || code === 'EAGAIN') return new ToolError('not_a_file', `"${rel}" is not a regular file`, { cause: err });
  if (code === 'ENAMETOOLONG') return new ToolError('invalid_path', `"${rel}" is too long`, { cause: err });
  if (code === 'EFBIG' || code === 'ENOSPC' || code === 'EDQUOT') return new ToolError('too_large', `"${rel}": ${(err as Error).message}`, { cause: err });
  return new ToolError('workspace_unavailable', `"${rel}": ${(err as Error).message}`, { cause: err });
}

/**
 * File access confined to one workspace directory, for tools that run in the runner's own
 * process (not in the sandbox) and therefore could otherwise reach anything the runner can.
 *
 * The guarantee does not rest on checking a path and then using it (the sandbox may swap a
 * directory for a symlink in between): every file or directory is opened first (O_NOFOLLOW,
 * O_NONBLOCK so a FIFO cannot hang the runner) and the *opened* object's real path, read back
 * from /proc/self/fd, must lie inside the workspace; otherwise it is closed unused. Lookups below
 * a directory go through that directory's fd (`/proc/self/fd/N/name`, the equivalent of
 * openat), so a component checked once cannot be replaced afterwards. Symlinks that stay inside
 * the workspace are followed; any that lead out are refused.
 */
export class WorkspaceFs {
  /** The workspace's real path (symlinks in the configured root resolved). */
  readonly root: string;
  /** When the runner is root: new files and directories are handed to the workspace's owner. */
  private readonly chownTo: { uid: number; gid: number } | undefined;

  private constructor(root: string, chownTo: { uid: number; gid: number } | undefined) {
    this.root = root;
    this.chownTo = chownTo;
  }

  /** Opens the workspace at `workspaceDir`; fails with `workspace_unavailable` if there is none. */
  static async open(workspaceDir: string | undefined): Promise<WorkspaceFs> {
    if (!workspaceDir) throw new ToolError('workspace_unavailable', 'no workspace is available for this session');
    const root = await realpath(workspaceDir);
    const handle = await open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      const st = await handle.stat();
      const chownTo = process.getuid?.() === 0 ? { uid: st.uid, gid: st.gid } : undefined;
      return new WorkspaceFs(root, chownTo);
    } finally {
      await handle.close();
    }
  }

  /** Closes `handle` and throws unless the object it refers to lies inside the workspace. */
  private async confine(handle: FileHandle, rel: string): Promise<FileHandle> {
    let real: string;
    try {
      real = await readlink(`/proc/self/fd/${handle.fd}`);
    } catch (err) {
      await handle.close();
      throw fsError(err, rel);
    }
    if (real !== this.root && !real.startsWith(`${this.root}/`)) {
      await handle.close();
      throw new ToolError('path_escape', `"${rel}" resolves outside the workspace`);
    }
    return handle;
  }

  private inside(real: string): boolean {
    return real === this.root || real.startsWith(`${this.root}/`);
  }

  /** Opens an existing regular file (flags: O_RDONLY or O_RDWR/O_WRONLY). */
  async openFile(input: string, flags: number = O_RDONLY): Promise<FileHandle> {
    const rel = normalizeWorkspacePath(input);
    if (rel === '.') throw new ToolError('not_a_file', 'the workspace itself is a directory');
    let handle: FileHandle;
    try {
      const real = await realpath(join(this.root, rel));
      if (!this.inside(real)) throw new ToolError('path_escape', `"${input}" resolves outside the workspace (through a symlink)`);
      handle = await open(real, flags | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      throw fsError(err, input);
    }
    await this.confine(handle, input);
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      throw new ToolError('not_a_file', `"${input}" is not a regular file`);
    }
    return handle;
  }

  /**
   * Opens a directory, walking one component at a time below verified directory fds. With
   * `create`, missing directories are made (0755, owned like the workspace).
   */
  async openDir(input: string, opts: { create?: boolean } = {}): Promise<FileHandle> {
    const rel = normalizeWorkspacePath(input);
    let current = await open(this.root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (rel === '.') return current;
    try {
      for (const part of rel.split('/')) {
        const at = `/proc/self/fd/${current.fd}/${part}`;
        let next: FileHandle;
        try {
          next = await open(at, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !opts.create) throw err;
          await mkdir(at, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
            if (e.code !== 'EEXIST') throw e;
          });
          next = await open(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
          if (this.chownTo) await next.chown(this.chownTo.uid, this.chownTo.gid);
        }
        await current.close();
        current = await this.confine(next, input);
      }
      return current;
    } catch (err) {
      await current.close().catch(() => undefined);
      throw fsError(err, input);
    }
  }

  /**
   * Opens a file for writing, creating it (0644, owned like the workspace) and its parent
   * directories if needed. Does not truncate: the caller truncates once it holds the fd.
   */
  async openForWrite(input: string): Promise<{ handle: FileHandle; created: boolean }> {
    const rel = normalizeWorkspacePath(input);
    if (rel === '.') throw new ToolError('not_a_file', 'the workspace itself is a directory');
    const parent = await this.openDir(dirname(rel), { create: true });
    const at = `/proc/self/fd/${parent.fd}/${basename(rel)}`;
    try {
      let handle: FileHandle;
      let created = true;
      try {
        handle = await open(at, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o644);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        created = false;
        try {
          handle = await open(at, O_RDWR | O_NOFOLLOW | O_NONBLOCK);
        } catch (inner) {
          // An existing symlink: follow it only if it stays inside (openFile checks that).
          if ((inner as NodeJS.ErrnoException).code === 'ELOOP') return { handle: await this.openFile(rel, O_RDWR), created: false };
          throw inner;
        }
      }
      await this.confine(handle, input);
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        throw new ToolError('not_a_file', `"${input}" is not a regular file`);
      }
      if (created && this.chownTo) await handle.chown(this.chownTo.uid, this.chownTo.gid);
      return { handle, created };
    } catch (err) {
      throw fsError(err, input);
    } finally {
      await parent.close();
    }
  }

  /** Entries of an open directory, sorted by name (symlinks are reported, never followed). */
  async readDir(dir: FileHandle): Promise<Dirent[]> {
    const entries: Dirent[] = [];
    const handle = await opendir(`/proc/self/fd/${dir.fd}`);
    for await (const entry of handle) entries.push(entry);
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Opens a subdirectory of an open directory without following a symlink. */
  async openChildDir(dir: FileHandle, name: string, rel: string): Promise<FileHandle> {
    try {
      const handle = await open(`/proc/self/fd/${dir.fd}/${name}`, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
      return await this.confine(handle, rel);
    } catch (err) {
      throw fsError(err, rel);
    }
  }
}
