import type { Response } from 'express';
import { errorBody } from '@switchboard/observability';

/** Every error the API returns has this JSON shape (`errorBody`, shared with the error handler and the channel services). */
export function sendError(res: Response, status: number, code: string, message: string, details?: unknown): void {
  if (res.headersSent) return;
  res.status(status).json(errorBody(status, code, message, details));
}
