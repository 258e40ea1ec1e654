import { FishError, FishErrorCode, type LLMProvider, type Logger, errorMessage } from '@fish-sre/core';

/**
 * Builds the configured provider. The packages are imported lazily so that a broken or missing
 * LLM package never stops breakglass from starting: the power verbs must work without it.
 */
export async function createDefaultProvider(kind: 'claude' | 'ollama', options: { model?: string; ollamaHost?: string; logger: Logger }): Promise<LLMProvider> {
  try {
    if (kind === 'claude') {
      const { createClaudeProvider } = await import('@fish-sre/llm-claude');
      // ANTHROPIC_API_KEY (and optionally ANTHROPIC_BASE_URL) come from the environment.
      return createClaudeProvider({ ...(options.model ? { model: options.model } : {}), logger: options.logger, timeoutMs: 60_000 });
    }
    const { createOllamaProvider } = await import('@fish-sre/llm-ollama');
    if (!options.model) throw new FishError({ code: FishErrorCode.CONFIG_INVALID, message: errorMessage('breakglass', 'BREAKGLASS_MODEL is required with BREAKGLASS_LLM=ollama') });
    return createOllamaProvider({ model: options.model, ...(options.ollamaHost ? { host: options.ollamaHost } : {}), logger: options.logger });
  } catch (cause) {
    if (FishError.isInstance(cause)) throw cause;
    throw new FishError({ code: FishErrorCode.PLUGIN_UNKNOWN, message: errorMessage('breakglass', `cannot load the ${kind} provider`), cause });
  }
}

/** Stands in when the provider cannot be built: every turn fails with the reason, the rest works. */
export function unavailableProvider(reason: string): LLMProvider {
  return {
    specificationVersion: 'v1',
    name: 'unavailable',
    provider: 'unavailable',
    modelId: 'none',
    async generate() {
      throw new FishError({ code: FishErrorCode.LLM_REQUEST_FAILED, message: errorMessage('breakglass', `the agent is unavailable: ${reason}`) });
    },
    // eslint-disable-next-line require-yield
    async *stream() {
      throw new FishError({ code: FishErrorCode.LLM_REQUEST_FAILED, message: errorMessage('breakglass', `the agent is unavailable: ${reason}; the VM controls still work`) });
    },
  };
}
