import type { IncomingMessage, ServerResponse } from 'node:http';

/** A file object as Slack puts it into `message` events (`files[]`), shaped like the documented example. */
export interface FakeSlackFileObject {
  id: string;
  created: number;
  timestamp: number;
  name: string;
  title: string;
  mimetype: string;
  filetype: string;
  pretty_type: string;
  user: string;
  mode: 'hosted';
  editable: boolean;
  is_external: boolean;
  external_type: string;
  size: number;
  url_private: string;
  url_private_download: string;
  permalink: string;
  is_public: boolean;
}

export interface FakeSlackFileOptions {
  name: string;
  mimetype: string;
  /** Uploader (default U0ALICE001). */
  user?: string;
  /** Holds the answer back this long, in ms (a slow download). */
  delayMs?: number;
  /** Answer with this status instead of the file (e.g. 503, after `delayMs`)... */
  status?: number;
  /** ...to the first this many requests only (default: all of them). */
  statusTimes?: number;
  /** Answer 302 to this URL instead of the file. */
  redirectTo?: string;
  /** The size Slack declares in the event (default the real size). */
  declaredSize?: number;
}

/** One request to the file host. */
export interface FakeSlackFileRequest {
  path: string;
  /** The bearer token sent, if any. */
  token: string | undefined;
  status: number;
  /** The whole body was written. */
  completed: boolean;
}

/** Slack's file host (`files.slack.com/files-pri/…`) on the fake's server. */
export interface FakeSlackFiles {
  /** Uploads a file; returns the file object to put into an event's `files`. */
  addFile(data: Buffer | string, opts: FakeSlackFileOptions): FakeSlackFileObject;
  /** Deletes a file: its URLs answer 404 from now on. */
  removeFile(id: string): void;
  /** Every request to the file host, in arrival order. */
  requests: FakeSlackFileRequest[];
}

interface Stored {
  file: FakeSlackFileObject;
  data: Buffer;
  opts: FakeSlackFileOptions;
  served: number;
}

/**
 * Serves uploaded files at `/files-pri/<team>-<file id>/<name>` and `…/download/<name>` as Slack's
 * file host does: only with `Authorization: Bearer <bot token>` (401 without or with another
 * token), 404 for a file that does not exist or was deleted, the bytes with their content type
 * and length otherwise.
 */
export function fakeSlackFiles(opts: { token: string; teamId: string; origin: () => string }): FakeSlackFiles & {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
} {
  const files = new Map<string, Stored>();
  const requests: FakeSlackFileRequest[] = [];
  let seq = 0;
  return {
    requests,
    addFile(data, o) {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
      const id = `F0FILE${String(++seq).padStart(4, '0')}`;
      const base = `${opts.origin()}/files-pri/${opts.teamId}-${id}`;
      const name = encodeURIComponent(o.name);
      const now = Math.floor(Date.now() / 1000);
      const file: FakeSlackFileObject = {
        id,
        created: now,
        timestamp: now,
        name: o.name,
        title: o.name,
        mimetype: o.mimetype,
        filetype: o.name.split('.').pop() ?? 'binary',
        pretty_type: o.mimetype,
        user: o.user ?? 'U0ALICE001',
        mode: 'hosted',
        editable: false,
        is_external: false,
        external_type: '',
        size: o.declaredSize ?? bytes.length,
        url_private: `${base}/${name}`,
        url_private_download: `${base}/download/${name}`,
        permalink: `https://switchboard-test.slack.com/files/${o.user ?? 'U0ALICE001'}/${id}/${name}`,
        is_public: false,
      };
      files.set(id, { file, data: bytes, opts: o, served: 0 });
      return file;
    },
    removeFile(id) {
      files.delete(id);
    },
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const m = /^\/files-pri\/([A-Z0-9]+)-([A-Z0-9]+)\/(?:download\/)?[^/]+$/.exec(url.pathname);
      if (!url.pathname.startsWith('/files-pri/')) return false;
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const entry: FakeSlackFileRequest = { path: url.pathname, token, status: 0, completed: false };
      requests.push(entry);
      const finish = (status: number, body: Buffer | string, headers: Record<string, string> = {}) => {
        entry.status = status;
        res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
        res.end(body, () => {
          entry.completed = true;
        });
      };
      const stored = m && m[1] === opts.teamId && req.method === 'GET' ? files.get(m[2]!) : undefined;
      if (token !== opts.token) {
        finish(401, 'Unauthorized', { 'content-type': 'text/plain' });
        return true;
      }
      if (!stored) {
        finish(404, 'Not Found', { 'content-type': 'text/plain' });
        return true;
      }
      const failing = stored.opts.status !== undefined && stored.served++ < (stored.opts.statusTimes ?? Infinity);
      const answer = () => {
        if (stored.opts.redirectTo) finish(302, '', { location: stored.opts.redirectTo });
        else if (failing) finish(stored.opts.status!, 'unavailable', { 'content-type': 'text/plain' });
        else finish(200, stored.data, { 'content-type': stored.file.mimetype, 'content-disposition': `attachment; filename="${stored.file.name}"` });
      };
      if (stored.opts.delayMs) setTimeout(answer, stored.opts.delayMs).unref();
      else answer();
      return true;
    },
  };
}
