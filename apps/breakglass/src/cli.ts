#!/usr/bin/env node
import { createConsoleLogger, describeError } from '@fish-sre/core';
import { loadConfig } from './config.js';
import { createDefaultProvider, unavailableProvider } from './agent/provider.js';
import { startBreakglass } from './server.js';

const logger = createConsoleLogger({ format: process.env['BREAKGLASS_LOG_FORMAT'] === 'json' ? 'json' : 'pretty' });
try {
  const config = loadConfig();
  // An LLM that cannot be set up (no API key, bad package) must not keep the power verbs down.
  const provider = await createDefaultProvider(config.agent.llm, { ...(config.agent.model ? { model: config.agent.model } : {}), ...(config.agent.ollamaHost ? { ollamaHost: config.agent.ollamaHost } : {}), logger }).catch((error: unknown) => {
    logger.error('the agent is unavailable; power verbs still work', { error: describeError(error) });
    return unavailableProvider(describeError(error));
  });
  const running = await startBreakglass({ config, provider, logger });
  const stop = () => {
    void running.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  process.stderr.write(`breakglass: ${describeError(error)}\n`);
  process.exit(1);
}
