#!/usr/bin/env node
import { createConsoleLogger, describeError } from '@fish-sre/core';
import { loadConfig } from './config.js';
import { createAgentProvider, createSelftestNotifier, unavailableProvider } from './agent/provider.js';
import { buildParts } from './parts.js';
import { formatReport, notifyFailures, runSelftest } from './selftest.js';
import { startBreakglass } from './server.js';
import { verifyTrailFile } from './trail/trail.js';
import { join } from 'node:path';

const USAGE = `usage: breakglass              start the console (configuration from BREAKGLASS_* variables)
       breakglass selftest [--notify]   check the LLM, the VM, the hypervisor (forced command, API); exit 1 if any part fails
       breakglass verify-trail [FILE]   check the hash chain of the trail (default: $BREAKGLASS_DATA_DIR/trail.jsonl)`;

const logger = createConsoleLogger({ format: process.env['BREAKGLASS_LOG_FORMAT'] === 'json' ? 'json' : 'pretty', ...(process.argv[2] ? { level: 'warn' as const } : {}) });
const [command, ...rest] = process.argv.slice(2);

async function provider(config: ReturnType<typeof loadConfig>) {
  return createAgentProvider(config.agent.llm, config.agent.llmOptions, logger, config.dataDir);
}

try {
  if (command === 'verify-trail') {
    const file = rest[0] ?? join(process.env['BREAKGLASS_DATA_DIR'] ?? './breakglass-data', 'trail.jsonl');
    const verdict = await verifyTrailFile(file);
    if (verdict.ok) {
      process.stdout.write(`trail ${file}: ${verdict.records} records, chain intact; last hash ${verdict.lastHash}\n`);
    } else {
      process.stdout.write(`trail ${file}: BROKEN at line ${verdict.problem?.line}: ${verdict.problem?.reason} (${verdict.records} records before it are intact)\n`);
      process.exit(1);
    }
  } else if (command === 'selftest') {
    const config = loadConfig();
    const parts = await buildParts(config, logger);
    let report;
    try {
      const llm = await provider(config).catch((error: unknown) => unavailableProvider(describeError(error)));
      report = await runSelftest({ provider: llm, pool: parts.pool, ...(parts.api ? { api: parts.api } : {}) });
    } finally {
      await parts.close();
    }
    process.stdout.write(`${formatReport(report)}\n`);
    if (rest.includes('--notify') && config.notify) {
      const notifier = await createSelftestNotifier(config.notify.type, config.notify.options, logger, config.dataDir);
      try {
        if (await notifyFailures(notifier, report)) process.stdout.write(`notified through ${config.notify.type}\n`);
      } finally {
        await notifier.close?.();
      }
    } else if (rest.includes('--notify')) {
      process.stderr.write('breakglass: --notify needs BREAKGLASS_NOTIFY (e.g. ntfy) and BREAKGLASS_NOTIFY_OPTIONS\n');
      process.exit(2);
    }
    process.exit(report.ok ? 0 : 1);
  } else if (command === undefined) {
    const config = loadConfig();
    // An LLM that cannot be set up (no API key, bad package) must not keep the power verbs down.
    const llm = await provider(config).catch((error: unknown) => {
      logger.error('the agent is unavailable; power verbs still work', { error: describeError(error) });
      return unavailableProvider(describeError(error));
    });
    const running = await startBreakglass({ config, provider: llm, logger });
    const stop = () => {
      void running.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } else {
    process.stderr.write(`${USAGE}\n`);
    process.exit(command === '--help' || command === '-h' ? 0 : 2);
  }
} catch (error) {
  process.stderr.write(`breakglass: ${describeError(error)}\n`);
  process.exit(1);
}
