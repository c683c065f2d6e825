import type { Attachment } from '@switchboard/contracts';
import { tooLargeNote, type AttachmentStore } from '@switchboard/channels';
import type { Logger } from '@switchboard/observability';
import { GraphApiError, GraphUnreachableError, type GraphApi } from './graph-api.ts';
import { mediaIdOf } from './normalize.ts';

/** What became of a message's media: stored attachments, and notes for the ones that could not be. */
export interface FetchedMedia {
  attachments: Attachment[];
  notes: string[];
}

const label = (a: Attachment) => a.name ?? a.kind;

/** Waits before each new try of a download Meta failed to serve (5xx, rate limit, unreachable). */
export const MEDIA_RETRY_DELAYS_MS = [500, 2_000, 5_000];

/** The longest a `Retry-After` makes a download wait before its next try. */
const MAX_RETRY_AFTER_MS = 10_000;

function retryable(err: unknown): boolean {
  if (err instanceof GraphUnreachableError) return true;
  return err instanceof GraphApiError && (err.status >= 500 || err.status === 429);
}

/**
 * Downloads a message's media (ids from the webhook) through the Graph API and keeps the bytes in
 * the AttachmentStore, so the lane, the transcript and the model see only an opaque
 * `sb-attachment:` reference, never Meta's token-bound URL. A file over the cap, or one Meta no
 * longer has (4xx), becomes a note in the text. A failure a retry may fix (5xx, rate limit,
 * unreachable) is tried again here, after each of `retryDelaysMs` (a `Retry-After` up to 10 s
 * counts instead), and then becomes a note too: the message must reach its lane now, because the
 * sender's later messages wait behind it, and handling it again later from the journal would put
 * it after them.
 */
export function whatsappMedia(opts: { api: GraphApi; store: AttachmentStore; logger: Logger; retryDelaysMs?: readonly number[] }) {
  const { api, store, logger: log } = opts;
  const delays = opts.retryDelaysMs ?? MEDIA_RETRY_DELAYS_MS;
  const download = async (id: string) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await api.downloadMedia(id, store.maxBytes);
      } catch (err) {
        if (!retryable(err) || attempt >= delays.length) throw err;
        const hinted = err instanceof GraphApiError ? err.retryAfterMs : undefined;
        const waitMs = hinted !== undefined ? Math.min(hinted, MAX_RETRY_AFTER_MS) : delays[attempt]!;
        log.info({ err, attempt: attempt + 1, waitMs }, 'whatsapp: media download failed; trying again');
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  };
  return {
    async fetch(refs: readonly Attachment[]): Promise<FetchedMedia> {
      const out: FetchedMedia = { attachments: [], notes: [] };
      for (const ref of refs) {
        const id = mediaIdOf(ref.url);
        if (!id) continue;
        let got;
        try {
          got = await download(id);
        } catch (err) {
          if (err instanceof GraphApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
            log.info({ status: err.status, code: err.code }, 'whatsapp: media could not be downloaded');
            out.notes.push(`[${label(ref)} could not be downloaded]`);
            continue;
          }
          if (!retryable(err)) throw err;
          log.warn({ err }, 'whatsapp: media could not be downloaded after retries; the message goes on without it');
          out.notes.push(`[${label(ref)} could not be downloaded: WhatsApp did not serve it; it may be sent again]`);
          continue;
        }
        if (got === 'too_big') {
          out.notes.push(tooLargeNote(label(ref), undefined, store.maxBytes));
          continue;
        }
        const mimeType = ref.mimeType ?? got.mimeType;
        out.attachments.push(await store.put(got.bytes, { kind: ref.kind, ...(mimeType ? { mimeType } : {}), ...(ref.name ? { name: ref.name } : {}) }));
      }
      return out;
    },
  };
}
export type WhatsAppMedia = ReturnType<typeof whatsappMedia>;
