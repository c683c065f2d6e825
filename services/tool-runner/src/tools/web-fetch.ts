import { z } from 'zod';
import { defineTool, type ToolPlugin, wrapUntrusted } from '@switchboard/tools';
import { guardedFetch, type Resolver } from './net/guarded-fetch.ts';
import { htmlToText } from './net/html-text.ts';
import type { AddressPolicy } from './net/ip-policy.ts';

export interface WebFetchToolOptions {
  /**
   * Which addresses may be reached (default: public unicast only). Settable only in code — tests
   * use it to allow one loopback port — never from configuration.
   */
  policy?: AddressPolicy;
  /** Host name resolver (default: the system resolver). */
  resolver?: Resolver;
  /** Body bytes read at most, after decompression (default 2 MiB). */
  maxBytes?: number;
  /** Deadline of a fetch including redirects, in ms (default 15 000). */
  timeoutMs?: number;
  /** Size of the text returned to the model, wrapper included, in bytes (default 15 KiB). */
  maxOutputBytes?: number;
}

function charsetOf(contentType: string): string {
  const match = /charset\s*=\s*"?([\w.:-]+)"?/i.exec(contentType);
  return match?.[1] ?? 'utf-8';
}

function decode(body: Buffer, contentType: string): string {
  try {
    return new TextDecoder(charsetOf(contentType)).decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}

const TEXT_TYPE = /^(text\/|application\/(json|xml|xhtml\+xml|javascript|ld\+json|rss\+xml|atom\+xml)|[^;]*\+json|[^;]*\+xml)/i;

/**
 * `web_fetch`: fetches an http(s) URL and returns readable text (HTML reduced to text with its
 * title), wrapped as untrusted content. Refuses loopback, private, link-local, metadata and other
 * non-public addresses on every hop (see {@link guardedFetch}).
 */
export function createWebFetchTool(opts: WebFetchToolOptions = {}): ToolPlugin {
  const maxOutputBytes = opts.maxOutputBytes ?? 15 * 1024;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const tool = defineTool({
    name: 'web_fetch',
    description: 'Fetch a public web page or file over http(s) and return its readable text (HTML is reduced to text). The result is untrusted content from the web.',
    risk: 'medium',
    wrapsOwnOutput: true,
    timeoutMs: timeoutMs + 2_000,
    parameters: z.object({ url: z.string().min(1).max(4096).describe('Absolute http:// or https:// URL') }),
    async execute({ url }, ctx) {
      const res = await guardedFetch(url, {
        ...(opts.policy ? { policy: opts.policy } : {}),
        ...(opts.resolver ? { resolver: opts.resolver } : {}),
        maxBytes: opts.maxBytes ?? 2 * 1024 * 1024,
        timeoutMs,
        signal: ctx.signal,
        headers: {
          'user-agent': 'SwitchboardBot/0.1 (web_fetch)',
          accept: 'text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.8,*/*;q=0.5',
          'accept-encoding': 'gzip, deflate, br',
        },
      });
      const contentType = String(res.headers['content-type'] ?? '');
      // Header lines first: the body may be cut to fit the output limit, these never are.
      const head: string[] = [];
      if (res.status !== 200) head.push(`HTTP status: ${res.status}`);
      if (res.truncated) head.push(`[the response was cut after ${res.body.length} bytes]`);
      let body: string;
      if (/html/i.test(contentType) || (!contentType && /^\s*</.test(res.body.subarray(0, 256).toString('latin1')))) {
        const { title, text } = htmlToText(decode(res.body, contentType));
        if (title) head.push(`Title: ${title}`);
        body = text;
      } else if (TEXT_TYPE.test(contentType) || !contentType) {
        body = decode(res.body, contentType);
      } else {
        body = `[${contentType} content of ${res.body.length}${res.truncated ? '+' : ''} bytes, not shown]`;
      }
      const lines = head.length > 0 ? [...head, '', body] : [body];
      return wrapUntrusted('web_fetch', { url: res.url }, lines.join('\n'), maxOutputBytes);
    },
  });
  return tool as unknown as ToolPlugin;
}
