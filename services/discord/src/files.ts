import type { Attachment } from '@switchboard/contracts';
import { downloadCapped, DownloadUnavailableError, tooLargeNote, trustedUrls, type AttachmentStore, type DownloadOutcome } from '@switchboard/channels';
import type { Logger } from '@switchboard/observability';
import type { DiscordFileRef } from './normalize.ts';

/** What became of a message's files: stored attachments, and notes for the ones that could not be. */
export interface FetchedFiles {
  attachments: Attachment[];
  notes: string[];
}

export interface DiscordFilesOptions {
  /** DISCORD_API_URL: its origin is trusted too (a proxy, or a test double on loopback). */
  apiUrl: string;
  store: Pick<AttachmentStore, 'put' | 'maxBytes'>;
  logger: Logger;
  /** Longest wait for one download, in ms (default 30 s): the channel's later messages wait behind it. */
  timeoutMs?: number;
}

/** Discord's CDN hosts: attachment links point to the first; the second is its media proxy. */
export const DISCORD_CDN_HOSTS = ['cdn.discordapp.com', 'media.discordapp.net'] as const;

/**
 * Downloads a message's attachments from Discord's CDN into the AttachmentStore, so the lane, the
 * transcript and the model see only an opaque `sb-attachment:` reference, never the signed CDN
 * link. The CDN needs no credentials and gets none (the bot token stays with the REST client).
 * Only `https://cdn.discordapp.com`, `https://media.discordapp.net` and DISCORD_API_URL's origin
 * are fetched; a link elsewhere, or a redirect there, is refused. The gateway does not redeliver,
 * so every failure becomes a note in the text: over the cap (declared, Content-Length or while
 * reading; the declared size alone skips the download), gone, refused, or unreachable right now.
 */
export function discordFiles(opts: DiscordFilesOptions) {
  const { store, logger: log } = opts;
  const trusted = trustedUrls(DISCORD_CDN_HOSTS, [opts.apiUrl]);
  return {
    /** Downloads `refs` in order; never throws for a file that could not be had, except a store failure. */
    async fetch(refs: readonly DiscordFileRef[]): Promise<FetchedFiles> {
      const out: FetchedFiles = { attachments: [], notes: [] };
      for (const ref of refs) {
        if (ref.sizeBytes > store.maxBytes) {
          out.notes.push(tooLargeNote(ref.name, ref.sizeBytes, store.maxBytes));
          continue;
        }
        let url: URL | undefined;
        try {
          url = new URL(ref.url);
        } catch {
          url = undefined;
        }
        let got: DownloadOutcome;
        try {
          got = url ? await downloadCapped(url, { trusted, maxBytes: store.maxBytes, timeoutMs: opts.timeoutMs ?? 30_000, what: 'a discord attachment' }) : { ok: false, reason: 'refused' };
        } catch (err) {
          if (!(err instanceof DownloadUnavailableError)) throw err;
          log.warn({ attachmentId: ref.id, err: err.message }, 'a discord attachment could not be downloaded; noting it instead');
          out.notes.push(`[${ref.name} could not be downloaded right now]`);
          continue;
        }
        if (!got.ok) {
          if (got.reason === 'too_big') out.notes.push(tooLargeNote(ref.name, undefined, store.maxBytes));
          else out.notes.push(`[${ref.name} could not be downloaded]`);
          if (got.reason === 'refused') log.warn({ attachmentId: ref.id, host: url?.host }, 'refused to download a discord attachment from a host other than Discord’s CDN');
          else if (got.reason === 'gone') log.info({ attachmentId: ref.id }, 'a discord attachment could not be downloaded (gone or expired)');
          continue;
        }
        out.attachments.push(await store.put(got.data, { kind: ref.kind, name: ref.name, ...(ref.mimeType ? { mimeType: ref.mimeType } : {}) }));
      }
      return out;
    },
  };
}
export type DiscordFiles = ReturnType<typeof discordFiles>;

/** The message with its downloaded attachments and a line per file that could not be. */
export function withFiles<M extends { text: string }>(message: M, fetched: FetchedFiles): M & { attachments?: Attachment[] } {
  const text = fetched.notes.length > 0 ? `${message.text}\n${fetched.notes.join('\n')}` : message.text;
  return { ...message, text, ...(fetched.attachments.length > 0 ? { attachments: fetched.attachments } : {}) };
}
