import { wrapUntrusted } from '@switchboard/tools';

/** One content part of a `tools/call` result, as far as this module reads it. */
export type McpContentPart = { type: string; [key: string]: unknown };

/** Bytes of base64 `data` once decoded (without decoding it). */
export function base64Bytes(data: string): number {
  const clean = data.replace(/\s/g, '');
  const padding = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((clean.length * 3) / 4) - padding);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function partToText(part: McpContentPart): string {
  switch (part.type) {
    case 'text':
      return str(part.text) ?? '';
    case 'image':
    case 'audio': {
      const data = str(part.data) ?? '';
      return `[${part.type}: ${str(part.mimeType) ?? 'unknown type'}, ${base64Bytes(data)} bytes, not shown]`;
    }
    case 'resource': {
      const resource = (part.resource ?? {}) as Record<string, unknown>;
      const uri = str(resource.uri) ?? '(no uri)';
      const mime = str(resource.mimeType);
      const text = str(resource.text);
      if (text !== undefined) return `[resource ${uri}${mime ? ` (${mime})` : ''}]\n${text}`;
      const blob = str(resource.blob);
      return `[resource ${uri}: ${mime ?? 'binary'}, ${blob === undefined ? 0 : base64Bytes(blob)} bytes, not shown]`;
    }
    case 'resource_link': {
      const mime = str(part.mimeType);
      const name = str(part.name);
      return `[resource link: ${str(part.uri) ?? '(no uri)'}${name ? ` "${name}"` : ''}${mime ? ` (${mime})` : ''}]`;
    }
    default:
      return `[${String(part.type)} content, not shown]`;
  }
}

/**
 * The text the model reads for a `tools/call` result: text parts as they are, images and audio as a
 * placeholder with MIME type and size, embedded resources as their text (or URI and size when
 * binary), resource links as their URI. A result with structured content but no content parts
 * shows the JSON.
 */
export function contentToText(content: readonly McpContentPart[] | undefined, structuredContent?: unknown): string {
  const parts = content ?? [];
  if (parts.length === 0) {
    return structuredContent === undefined ? '(no content)' : JSON.stringify(structuredContent, null, 2);
  }
  return parts.map(partToText).join('\n');
}

/**
 * Wraps what an MCP server returned as untrusted data: a one-line note, then
 * `<untrusted source="mcp:<server>/<tool>">…</untrusted>`; `<untrusted`/`</untrusted` inside the
 * text is defused, and the text is cut so the whole stays within `maxBytes`.
 */
export function wrapMcpOutput(server: string, tool: string, text: string, maxBytes: number): string {
  return wrapUntrusted(`mcp:${server}/${tool}`, {}, text, maxBytes);
}
