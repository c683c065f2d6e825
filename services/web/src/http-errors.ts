import type { Response } from 'express';

/** Every error the API returns has this JSON shape (OpenAI-compatible enough for its clients). */
export function sendError(res: Response, status: number, code: string, message: string, details?: unknown): void {
  if (res.headersSent) return;
  res.status(status).json({ error: { code, message, type: status < 500 ? 'invalid_request_error' : 'server_error', ...(details === undefined ? {} : { details }) } });
}
