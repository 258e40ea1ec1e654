import { FishError, FishErrorCode, type LLMProvider, type Logger, errorMessage } from '@fish-sre/core';

/**
 * Builds the default provider from its package, imported lazily so that breakglass starts (and the
 * power verbs work) even when the LLM package or its API is unavailable.
 */
export async function createDefaultProvider(kind: 'claude' | 'ollama', options: { model?: string; logger: Logger }): Promise<LLMProvider> {
  const packageName = kind === 'claude' ? '@fish-sre/llm-claude' : '@fish-sre/llm-ollama';
  const factoryName = kind === 'claude' ? 'createClaudeProvider' : 'createOllamaProvider';
  let module: Record<string, unknown>;
  try {
    module = (await import(/* @vite-ignore */ packageName)) as Record<string, unknown>;
  } catch (cause) {
    throw new FishError({ code: FishErrorCode.PLUGIN_UNKNOWN, message: errorMessage('breakglass', `cannot load ${packageName}`), cause });
  }
  const factory = module[factoryName];
  if (typeof factory !== 'function') throw new FishError({ code: FishErrorCode.PLUGIN_INVALID, message: errorMessage('breakglass', `${packageName} does not export ${factoryName}`) });
  return (factory as (options: Record<string, unknown>) => LLMProvider)({ ...(options.model ? { model: options.model } : {}), logger: options.logger });
}
