import { describe, expect, it } from 'vitest';
import { contextBudgetFor, loadAgentWorkerConfig } from './config.ts';

describe('agent-worker memory config', () => {
  it('uses the smallest per-model budget among the models that may answer', () => {
    const config = loadAgentWorkerConfig({ CONTEXT_TOKEN_BUDGET: '16000', CONTEXT_TOKEN_BUDGETS: 'big=100000, small-model=8000' });
    expect(config.CONTEXT_TOKEN_BUDGETS).toEqual({ big: 100000, 'small-model': 8000 });
    expect(contextBudgetFor(config, ['big'])).toBe(100000);
    expect(contextBudgetFor(config, ['big', 'small-model'])).toBe(8000);
    expect(contextBudgetFor(config, ['big', 'unlisted'])).toBe(16000);
    expect(config.MEMORY_EXTRACTION).toBe('turn');
  });

  it('names the bad variables, not their values', () => {
    expect(() => loadAgentWorkerConfig({ CONTEXT_TOKEN_BUDGETS: 'm=12' })).toThrow(/CONTEXT_TOKEN_BUDGETS/);
    expect(() => loadAgentWorkerConfig({ MEMORY_EXTRACTION: 'sometimes' })).toThrow(/MEMORY_EXTRACTION/);
    expect(() => loadAgentWorkerConfig({ EMBEDDING_DIMENSIONS: 'lots' })).toThrow(/EMBEDDING_DIMENSIONS/);
  });
});
