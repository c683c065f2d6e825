import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Attachment } from '@switchboard/contracts';

/** The scheme of an attachment reference in `InboundMessage.attachments[].url`: internal, never a platform URL. */
export const ATTACHMENT_URL_PREFIX = 'sb-attachment:';

/** An attachment's bytes and what the channel knew about it. */
export interface StoredAttachment {
  attachment: Attachment;
  data: Buffer;
}

/** Thrown by `put` for a file over the store's cap (the caller notes it instead of storing it). */
export class AttachmentTooLargeError extends Error {
  readonly code = 'attachment_too_large';
  readonly sizeBytes: number;
  readonly maxBytes: number;
  constructor(sizeBytes: number, maxBytes: number) {
    super(`attachment of ${sizeBytes} bytes is over the ${maxBytes}-byte limit`);
    this.name = 'AttachmentTooLargeError';
    this.sizeBytes = sizeBytes;
    this.maxBytes = maxBytes;
  }
}

export interface AttachmentStoreOptions {
  /** How long a stored file is kept, in seconds (default 1 day). */
  ttlSeconds?: number;
  /** Largest file stored, in bytes (default 20 MB, Telegram's bot download limit). */
  maxBytes?: number;
}

/**
 * Files users sent, kept in Redis for a while so any agent worker can hand them to the model.
 * Channel services download a file with their platform credentials and `put` its bytes; the
 * message carries only an opaque `sb-attachment:<id>` reference, so no platform token or file URL
 * ever reaches the lane, the transcript or the model. Ids are 128 random bits: a reference cannot
 * be guessed, and only the channel that stored it puts it into a message.
 */
export class AttachmentStore {
  private readonly redis: Redis;
  private readonly base: string;
  readonly ttlSeconds: number;
  readonly maxBytes: number;

  constructor(redis: Redis, prefix: string, opts: AttachmentStoreOptions = {}) {
    this.redis = redis;
    this.base = `${prefix}:att`;
    this.ttlSeconds = opts.ttlSeconds ?? 24 * 3600;
    this.maxBytes = opts.maxBytes ?? 20 * 1024 * 1024;
  }

  /** Stores `data`; returns the attachment (with its reference and real size) to put into the message. */
  async put(data: Buffer, meta: Omit<Attachment, 'url' | 'sizeBytes'>): Promise<Attachment> {
    if (data.length > this.maxBytes) throw new AttachmentTooLargeError(data.length, this.maxBytes);
    const id = randomBytes(16).toString('hex');
    const attachment: Attachment = { ...meta, url: `${ATTACHMENT_URL_PREFIX}${id}`, sizeBytes: data.length };
    await this.redis.multi().hset(`${this.base}:${id}`, 'meta', JSON.stringify(attachment), 'data', data).expire(`${this.base}:${id}`, this.ttlSeconds).exec();
    return attachment;
  }

  /** The stored file behind a reference; undefined when it expired or the reference is not ours. */
  async get(url: string): Promise<StoredAttachment | undefined> {
    if (!url.startsWith(ATTACHMENT_URL_PREFIX)) return undefined;
    const id = url.slice(ATTACHMENT_URL_PREFIX.length);
    if (!/^[a-f0-9]{32}$/.test(id)) return undefined;
    const [meta, data] = await this.redis.hmgetBuffer(`${this.base}:${id}`, 'meta', 'data');
    if (!meta || !data) return undefined;
    return { attachment: JSON.parse(meta.toString('utf8')) as Attachment, data };
  }
}
