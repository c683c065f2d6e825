import type { Attachment } from '@switchboard/contracts';
import { downloadCapped, DownloadUnavailableError, tooLargeNote, trustedUrls, type AttachmentStore, type DownloadOutcome } from '@switchboard/channels';
import type { Logger } from '@switchboard/observability';

/** A file of a Slack message, as normalization saw it: where to download it and what it is. */
export interface SlackFileRef {
  id: string;
  kind: Attachment['kind'];
  /** `url_private_download`, else `url_private`: both need the bot token. Missing for files Slack withholds. */
  url: string | undefined;
  mimeType?: string;
  name?: string;
  /** What Slack declared; the download is capped anyway. */
  sizeBytes?: number;
}

/** What became of a message's files: stored attachments, and notes for the ones that could not be. */
export interface FetchedFiles {
  attachments: Attachment[];
  notes: string[];
}

export interface SlackFilesOptions {
  /** The bot token, sent as `Authorization: Bearer` to Slack's file host only. */
  token: string;
  /** SLACK_API_URL: its origin is trusted with the token too (a proxy, or a test double on loopback). */
  apiUrl: string;
  store: AttachmentStore;
  logger: Logger;
  /** Longest wait for one download, in ms (default 60 s). */
  timeoutMs?: number;
}

/** Slack's file host; `url_private` of a file uploaded to Slack always points here. */
const SLACK_FILE_HOST = 'files.slack.com';
const MAX_REDIRECTS = 3;

/** A failure a later attempt may fix (Slack 5xx or 429, the network, a timeout). */
export class SlackFileUnavailableError extends Error {
  readonly code = 'slack_file_unavailable';
  readonly retryable = true;
  constructor(message: string) {
    super(message);
    this.name = 'SlackFileUnavailableError';
  }
}

type Outcome = DownloadOutcome | { ok: false; reason: 'not_a_file' };

const label = (ref: SlackFileRef) => ref.name ?? ref.kind;

/**
 * Downloads a message's files from Slack's file host with the bot token and keeps them in the
 * AttachmentStore, so the lane, the transcript and the model see only an opaque `sb-attachment:`
 * reference. The token goes only to `https://files.slack.com` (or SLACK_API_URL's origin): a file
 * on any other host (an external file such as a Google Drive link) and a redirect to one are
 * refused without sending it. A file over the cap, gone (404/410), not ours to read (401/403) or
 * refused becomes a note in the text; a failure a retry may fix throws `SlackFileUnavailableError`,
 * unless `acked()` says Slack already has its 200 (it will not retry then, so a note it is).
 */
export function slackFiles(opts: SlackFilesOptions) {
  const { store, logger: log } = opts;
  const trusted = trustedUrls([SLACK_FILE_HOST], [opts.apiUrl]);
  const tooBig = (ref: SlackFileRef, size: number | undefined) => tooLargeNote(label(ref), size, store.maxBytes);

  async function download(first: URL, maxBytes: number): Promise<Outcome> {
    try {
      return await downloadCapped(first, { trusted, maxBytes, headers: { authorization: `Bearer ${opts.token}` }, timeoutMs: opts.timeoutMs ?? 60_000, maxRedirects: MAX_REDIRECTS, what: 'a slack file' });
    } catch (err) {
      if (err instanceof DownloadUnavailableError) throw new SlackFileUnavailableError(err.message);
      throw err;
    }
  }

  return {
    /** Downloads `refs` in order; `acked()` tells whether Slack already has its 200 (default: no). */
    async fetch(refs: readonly SlackFileRef[], acked: () => boolean = () => false): Promise<FetchedFiles> {
      const out: FetchedFiles = { attachments: [], notes: [] };
      for (const ref of refs) {
        if (ref.sizeBytes !== undefined && ref.sizeBytes > store.maxBytes) {
          out.notes.push(tooBig(ref, ref.sizeBytes));
          continue;
        }
        let url: URL | undefined;
        try {
          url = ref.url ? new URL(ref.url) : undefined;
        } catch {
          url = undefined;
        }
        let got: Outcome;
        try {
          got = url ? await download(url, store.maxBytes) : { ok: false, reason: 'gone' };
        } catch (err) {
          if (!(err instanceof SlackFileUnavailableError) || !acked()) throw err;
          log.warn({ fileId: ref.id, err: err.message }, 'a slack file could not be downloaded after the delivery was acknowledged; noting it instead');
          out.notes.push(`[${label(ref)} could not be downloaded right now]`);
          continue;
        }
        if (got.ok && /^text\/html\b/.test(got.contentType ?? '') && !/html/.test(ref.mimeType ?? '')) {
          // Slack answers a token without the files:read scope with its sign-in page, not an error.
          got = { ok: false, reason: 'not_a_file' };
        }
        if (!got.ok) {
          if (got.reason === 'too_big') out.notes.push(tooBig(ref, undefined));
          else out.notes.push(`[${label(ref)} could not be downloaded]`);
          if (got.reason === 'refused') log.warn({ fileId: ref.id, host: url?.host }, 'refused to download a slack file from a host other than Slack’s file host');
          else if (got.reason !== 'too_big') log.info({ fileId: ref.id, reason: got.reason }, 'a slack file could not be downloaded (gone, no access, or no files:read scope)');
          continue;
        }
        out.attachments.push(await store.put(got.data, { kind: ref.kind, ...(ref.mimeType ? { mimeType: ref.mimeType } : {}), ...(ref.name ? { name: ref.name } : {}) }));
      }
      return out;
    },
  };
}
export type SlackFiles = ReturnType<typeof slackFiles>;
