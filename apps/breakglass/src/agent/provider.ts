import { FishError, FishErrorCode, type LLMProvider, type Logger, type Notifier, type PluginContext, PluginRegistry, errorMessage, systemClock } from '@fish-sre/core';
import { claudeProviderPlugin } from '@fish-sre/llm-claude';
import { ollamaProviderPlugin } from '@fish-sre/llm-ollama';
import { ntfyNotifierPlugin } from '@fish-sre/notify-ntfy';

/**
 * breakglass builds its LLM (and the selftest's notifier) through fish's plugin registry, like
 * fish does: `BREAKGLASS_LLM=claude|ollama` (or an npm package exporting an `llm` descriptor) with
 * its options validated by the plugin's own schema, so a new provider needs no change here.
 */
export function createRegistry(): PluginRegistry {
  return new PluginRegistry([claudeProviderPlugin, ollamaProviderPlugin, ntfyNotifierPlugin] as never[]);
}

function context(name: string, logger: Logger, dataDir: string): PluginContext {
  return {
    name,
    logger: logger.child({ plugin: name }),
    clock: systemClock,
    catalog: () => {
      throw new FishError({ code: FishErrorCode.PLUGIN_INVALID, message: errorMessage('breakglass', 'breakglass has no incident catalog') });
    },
    dataDir,
    fetch: globalThis.fetch,
  };
}

export async function createAgentProvider(type: string, options: Record<string, unknown>, logger: Logger, dataDir: string): Promise<LLMProvider> {
  return createRegistry().create('llm', type, options, context(type, logger, dataDir), 'BREAKGLASS_LLM_OPTIONS');
}

export async function createSelftestNotifier(type: string, options: Record<string, unknown>, logger: Logger, dataDir: string): Promise<Notifier> {
  return createRegistry().create('notifier', type, options, context(type, logger, dataDir), 'BREAKGLASS_NOTIFY_OPTIONS');
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
