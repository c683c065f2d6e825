import type { Attachment, InboundMessage } from '@switchboard/contracts';
import type { StoredAttachment } from '@switchboard/channels';
import type { ChatContentPart } from '@switchboard/llm';
import { wrapUntrusted } from '@switchboard/tools';

/** Where attachment references (`sb-attachment:<id>`) are resolved: the channels' AttachmentStore. */
export interface AttachmentSource {
  get(url: string): Promise<StoredAttachment | undefined>;
}

export interface AttachmentLimits {
  /** Largest image sent to the model as an image part, in bytes (default 8 MB). */
  maxImageBytes?: number;
  /** Most bytes of one text document put into the prompt (default 32 KiB; the rest is cut). */
  maxTextBytes?: number;
}

/** Image formats OpenAI-compatible vision models accept as data URLs. */
const IMAGE_MIME = /^image\/(png|jpeg|gif|webp)$/;
const TEXT_MIME = /^(text\/[\w.+-]+|application\/(json|xml|yaml|x-yaml|toml|x-sh|javascript|x-ndjson|csv|sql|x-python))$/;
const TEXT_NAME = /\.(txt|md|markdown|csv|tsv|json|ndjson|ya?ml|toml|xml|html?|log|ini|conf|sh|py|js|mjs|ts|tsx|go|rs|java|c|h|cpp|rb|php|sql)$/i;

const size = (bytes: number | undefined) => (bytes === undefined ? '' : bytes < 1024 ? `, ${bytes} B` : `, ${Math.round(bytes / 1024)} KiB`);

/** One line naming an attachment for the transcript and for the model: kind, name, type and size, never its reference. */
export function describeAttachment(a: Attachment): string {
  return `[attached ${a.kind}${a.name ? ` "${a.name.replace(/["\n]/g, '')}"` : ''} (${a.mimeType ?? 'unknown type'}${size(a.sizeBytes)})]`;
}

/** The message text followed by one line per attachment: what the transcript keeps (images are not stored again). */
export function textWithAttachments(m: InboundMessage, text: string): string {
  const list = m.attachments ?? [];
  return list.length === 0 ? text : `${text}\n${list.map(describeAttachment).join('\n')}`;
}

function isText(a: Attachment, data: Buffer): boolean {
  const declared = (a.mimeType !== undefined && TEXT_MIME.test(a.mimeType)) || (a.name !== undefined && TEXT_NAME.test(a.name));
  // A NUL byte in the first KiB means binary whatever the name says.
  return declared && !data.subarray(0, 1024).includes(0);
}

/**
 * What the model gets for a user message with attachments: the text (with a line per
 * attachment), images as image parts (data URLs), text documents as text wrapped as untrusted
 * data (capped), and only the line for anything else (voice, video, binary files, or a file that
 * expired from the store). Without attachments the plain text is returned unchanged.
 */
export async function userContent(m: InboundMessage, text: string, source: AttachmentSource | undefined, limits: AttachmentLimits = {}): Promise<string | ChatContentPart[]> {
  const list = m.attachments ?? [];
  if (list.length === 0 || !source) return textWithAttachments(m, text);
  const maxImage = limits.maxImageBytes ?? 8 * 1024 * 1024;
  const maxText = limits.maxTextBytes ?? 32 * 1024;
  const lines: string[] = [];
  const extra: ChatContentPart[] = [];
  for (const a of list) {
    const stored = await source.get(a.url);
    const line = describeAttachment(a);
    if (!stored) {
      lines.push(`${line} (no longer available)`);
      continue;
    }
    const mime = stored.attachment.mimeType ?? a.mimeType ?? '';
    if (a.kind === 'image' && IMAGE_MIME.test(mime) && stored.data.length <= maxImage) {
      lines.push(line);
      extra.push({ type: 'image_url', image_url: { url: `data:${mime};base64,${stored.data.toString('base64')}` } });
    } else if (a.kind === 'document' && isText(a, stored.data)) {
      lines.push(line);
      extra.push({ type: 'text', text: wrapUntrusted('attachment', { name: a.name ?? 'file', type: mime || 'text/plain' }, stored.data.toString('utf8'), maxText) });
    } else {
      lines.push(`${line} (its content cannot be shown to you)`);
    }
  }
  return [{ type: 'text', text: `${text}\n${lines.join('\n')}` }, ...extra];
}
