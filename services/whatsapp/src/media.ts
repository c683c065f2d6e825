import type { Attachment } from '@switchboard/contracts';
import { tooLargeNote, type AttachmentStore } from '@switchboard/channels';
import type { Logger } from '@switchboard/observability';
import { GraphApiError, type GraphApi } from './graph-api.ts';
import { mediaIdOf } from './normalize.ts';

/** What became of a message's media: stored attachments, and notes for the ones that could not be. */
export interface FetchedMedia {
  attachments: Attachment[];
  notes: string[];
}

const label = (a: Attachment) => a.name ?? a.kind;

/**
 * Downloads a message's media (ids from the webhook) through the Graph API and keeps the bytes in
 * the AttachmentStore, so the lane, the transcript and the model see only an opaque
 * `sb-attachment:` reference, never Meta's token-bound URL. A file over the cap, or one Meta no
 * longer has (4xx), becomes a note in the text; a failure a retry may fix (5xx, rate limit,
 * unreachable) throws, and the delivery is handled again from the journal.
 */
export function whatsappMedia(opts: { api: GraphApi; store: AttachmentStore; logger: Logger }) {
  const { api, store, logger: log } = opts;
  return {
    async fetch(refs: readonly Attachment[]): Promise<FetchedMedia> {
      const out: FetchedMedia = { attachments: [], notes: [] };
      for (const ref of refs) {
        const id = mediaIdOf(ref.url);
        if (!id) continue;
        let got;
        try {
          got = await api.downloadMedia(id, store.maxBytes);
        } catch (err) {
          if (err instanceof GraphApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
            log.info({ status: err.status, code: err.code }, 'whatsapp: media could not be downloaded');
            out.notes.push(`[${label(ref)} could not be downloaded]`);
            continue;
          }
          throw err;
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
