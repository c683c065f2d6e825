import { GrammyError, type Api } from 'grammy';
import type { Attachment } from '@switchboard/contracts';
import { readCapped, tooLargeNote, type AttachmentStore } from '@switchboard/channels';
import type { Logger } from '@switchboard/observability';
import type { TgFileRef } from './normalize.ts';

/** What became of a message's files: stored attachments, and notes for the ones that could not be. */
export interface FetchedFiles {
  attachments: Attachment[];
  notes: string[];
}

export interface TelegramFilesOptions {
  api: Api;
  token: string;
  apiRoot: string;
  store: AttachmentStore;
  logger: Logger;
  /** Longest wait for one download, in ms (default 60 s). */
  timeoutMs?: number;
}

const describe = (ref: TgFileRef) => ref.name ?? ref.kind;

/**
 * Downloads a message's files through getFile and the Bot API's file endpoint and keeps them in the
 * AttachmentStore. The download URL holds the bot token, so it is used here only: it is never
 * logged, never put into an error message, and never part of the message that goes on the lane.
 * A file over the size cap (or refused by Telegram as too big) becomes a note; a failure that a
 * retry may fix (Telegram or the network) throws, so the update is delivered again.
 */
export function telegramFiles(opts: TelegramFilesOptions) {
  const { api, store, logger: log } = opts;
  const tooBig = (ref: TgFileRef, size: number | undefined) => tooLargeNote(describe(ref), size, store.maxBytes);

  async function download(filePath: string, maxBytes: number): Promise<Buffer | 'too_big'> {
    const url = `${opts.apiRoot}/file/bot${opts.token}/${filePath.split('/').map(encodeURIComponent).join('/')}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000) });
    } catch (err) {
      // No cause attached on purpose: the failing request's URL carries the bot token.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`downloading a telegram file failed: ${(err as Error).name}`);
    }
    if (!res.ok || !res.body) throw new Error(`downloading a telegram file failed: HTTP ${res.status}`);
    return await readCapped(res.body, maxBytes);
  }

  return {
    async fetch(refs: readonly TgFileRef[]): Promise<FetchedFiles> {
      const out: FetchedFiles = { attachments: [], notes: [] };
      for (const ref of refs) {
        if (ref.sizeBytes !== undefined && ref.sizeBytes > store.maxBytes) {
          out.notes.push(tooBig(ref, ref.sizeBytes));
          continue;
        }
        let file;
        try {
          file = await api.getFile(ref.fileId);
        } catch (err) {
          if (err instanceof GrammyError && err.error_code === 400) {
            // "file is too big" and friends: retrying cannot help.
            log.info({ description: err.description }, 'telegram refused a file download');
            out.notes.push(/too big/i.test(err.description) ? tooBig(ref, ref.sizeBytes) : `[${describe(ref)} could not be downloaded]`);
            continue;
          }
          throw err;
        }
        if (!file.file_path || (file.file_size !== undefined && file.file_size > store.maxBytes)) {
          out.notes.push(file.file_path ? tooBig(ref, file.file_size) : `[${describe(ref)} could not be downloaded]`);
          continue;
        }
        const data = await download(file.file_path, store.maxBytes);
        if (data === 'too_big') {
          out.notes.push(tooBig(ref, undefined));
          continue;
        }
        out.attachments.push(await store.put(data, { kind: ref.kind, ...(ref.mimeType ? { mimeType: ref.mimeType } : {}), ...(ref.name ? { name: ref.name } : {}) }));
      }
      return out;
    },
  };
}
export type TelegramFiles = ReturnType<typeof telegramFiles>;
