import { createHash } from 'node:crypto';
import { chmod, chown, lstat, mkdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ToolError } from '../tools/tool-error.ts';

/** Who owns workspace files on the host: the uid/gid the sandboxed processes run as there. */
export interface WorkspaceOwner {
  uid: number;
  gid: number;
}

/** Hands out one private directory per session key. */
export interface Workspaces {
  /** Absolute root under which every workspace lives. */
  readonly rootDir: string;
  /** Host uid/gid that owns workspace contents; `undefined` when the runner is not root. */
  readonly owner: WorkspaceOwner | undefined;
  /** The workspace path of a session (does not create it). */
  pathFor(sessionKey: string): string;
  /** Creates the session's workspace on first use (mode 0700) and returns its absolute path. */
  ensure(sessionKey: string): Promise<string>;
}

/** Directory name of a session's workspace: 32 hex chars of SHA-256, so keys never become paths. */
export function workspaceName(sessionKey: string): string {
  return createHash('sha256').update(`switchboard-workspace\0${sessionKey}`).digest('hex').slice(0, 32);
}

/**
 * The uid/gid workspace files must belong to. A root runner drops to `sandboxUid`/`sandboxGid`
 * before starting bubblewrap, so the workspace is handed to them; an unprivileged runner's sandbox
 * is its own uid mapped into a user namespace, so the files stay its own (`undefined`: no chown).
 */
export function workspaceOwnerFor(processUid: number, sandbox: WorkspaceOwner): WorkspaceOwner | undefined {
  return processUid === 0 ? sandbox : undefined;
}

/**
 * Per-session workspaces under `rootDir`. The root is made 0711 (others may traverse to a
 * workspace they know the name of, but may not list the root), which a root runner needs because
 * bubblewrap runs as the sandbox uid and opens the workspace by path; each workspace is 0700 and
 * owned by the sandbox uid, so no other sandbox uid or local user can read it.
 */
export function createWorkspaces(opts: { rootDir: string; owner: WorkspaceOwner | undefined }): Workspaces {
  if (!isAbsolute(opts.rootDir)) throw new ToolError('workspace_unavailable', `workspace root must be absolute: ${opts.rootDir}`);
  const { rootDir, owner } = opts;
  let rootReady: Promise<void> | undefined;
  const prepareRoot = async () => {
    await mkdir(rootDir, { recursive: true, mode: 0o711 });
    const st = await lstat(rootDir);
    if (!st.isDirectory()) throw new ToolError('workspace_unavailable', `workspace root ${rootDir} is not a directory`);
    await chmod(rootDir, 0o711);
  };
  return {
    rootDir,
    owner,
    pathFor: (sessionKey) => join(rootDir, workspaceName(sessionKey)),
    async ensure(sessionKey) {
      rootReady ??= prepareRoot().catch((err: unknown) => {
        rootReady = undefined;
        throw err;
      });
      await rootReady;
      const dir = join(rootDir, workspaceName(sessionKey));
      try {
        await mkdir(dir, { mode: 0o700 });
        if (owner) await chown(dir, owner.uid, owner.gid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new ToolError('workspace_unavailable', `could not create the session workspace: ${(err as Error).message}`, { cause: err });
        }
      }
      // Only the runner writes the root, but never hand out something that is not a plain directory.
      const st = await lstat(dir);
      if (!st.isDirectory()) throw new ToolError('workspace_unavailable', 'the session workspace is not a directory');
      return dir;
    },
  };
}
