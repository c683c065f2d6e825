import type { ToolPlugin } from '@switchboard/tools';
import { echoTool } from './tools/echo.ts';

/** Tools this runner ships with, by name. Configuration decides which are enabled. */
export const BUILTIN_TOOLS: readonly ToolPlugin[] = [echoTool as unknown as ToolPlugin];
