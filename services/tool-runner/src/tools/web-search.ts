import { z } from 'zod';
import { defineTool, type ToolPlugin, wrapUntrusted } from '@switchboard/tools';
import { ToolError } from './tool-error.ts';

/** One search hit. */
export interface WebSearchResult {
  title: string;
  url: string;
  snippet?: string;
}

/**
 * A search backend. Brave Search, SearXNG and Tavily ship in `web-search-providers.ts`, chosen
 * with WEB_SEARCH_PROVIDER (see config.ts). Another backend implements this interface and is
 * passed as `webSearchProvider` in the tool-runner's `ToolRunnerDeps`, which wins over the
 * configured one. Throw a `ToolError` with `remote_error` / `remote_unreachable` / `timeout` on
 * failure.
 */
export interface WebSearchProvider {
  /** Short name for logs, e.g. "brave". */
  readonly name: string;
  search(query: string, opts: { count: number; signal: AbortSignal }): Promise<WebSearchResult[]>;
}

/** Most results one call may ask for. */
export const WEB_SEARCH_MAX_RESULTS = 10;

/** `web_search`: asks the configured provider and returns its hits as untrusted content. */
export function createWebSearchTool(provider: WebSearchProvider, opts: { maxOutputBytes?: number } = {}): ToolPlugin {
  const maxOutputBytes = opts.maxOutputBytes ?? 15 * 1024;
  const tool = defineTool({
    name: 'web_search',
    description: 'Search the web. Returns titles, URLs and snippets (untrusted content); use web_fetch to read a page.',
    risk: 'low',
    wrapsOwnOutput: true,
    timeoutMs: 20_000,
    parameters: z.object({
      query: z.string().min(1).max(500).describe('The search query'),
      count: z.number().int().min(1).max(WEB_SEARCH_MAX_RESULTS).optional().describe(`Number of results (default 5, at most ${WEB_SEARCH_MAX_RESULTS})`),
    }),
    async execute({ query, count }, ctx) {
      let results: WebSearchResult[];
      try {
        results = await provider.search(query, { count: count ?? 5, signal: ctx.signal });
      } catch (err) {
        if (err instanceof ToolError) throw err;
        throw new ToolError('remote_error', `the search provider failed: ${(err as Error).message}`, { retryable: true, cause: err });
      }
      const text = results.length === 0
        ? 'No results.'
        : results
            .slice(0, count ?? 5)
            .map((r, i) => `${i + 1}. ${r.title}\n   ${r.url}${r.snippet ? `\n   ${r.snippet.replace(/\s+/g, ' ').trim()}` : ''}`)
            .join('\n');
      return wrapUntrusted('web_search', { provider: provider.name, query }, text, maxOutputBytes);
    },
  });
  return tool as unknown as ToolPlugin;
}
