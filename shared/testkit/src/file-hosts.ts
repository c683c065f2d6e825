import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';

/**
 * An in-memory stand-in for a channel service's AttachmentStore (the real one is covered in the
 * channel kit and end to end): it keeps what was put and answers with an `sb-attachment:` ref.
 * `M` is the attachment description the service passes (without `url` and `sizeBytes`).
 */
export function memoryAttachmentStore<M extends object>(maxBytes: number) {
  const put: Array<{ data: Buffer; meta: M }> = [];
  return {
    put,
    store: {
      maxBytes,
      async put(data: Buffer, meta: M): Promise<M & { url: string; sizeBytes: number }> {
        put.push({ data, meta });
        return { ...meta, url: `sb-attachment:${'0'.repeat(31)}${put.length}`, sizeBytes: data.length };
      },
    },
  };
}

/** A loopback HTTP server (a file host or CDN double) recording each request's path and headers; `route` answers it. */
export async function startRecordingHost(route: (path: string, res: ServerResponse) => void) {
  const seen: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
  const server: Server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    route(req.url ?? '', res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const a = server.address();
  const origin = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  return { seen, origin, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
export type RecordingHost = Awaited<ReturnType<typeof startRecordingHost>>;
