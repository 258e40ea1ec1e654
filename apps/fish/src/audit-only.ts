import type { AuditStore } from '@fish-sre/core';
import type { FishConfig } from './config.js';
import { createFishRegistry } from './plugins.js';
import { createConsoleLogger, systemClock } from '@fish-sre/core';
import { dirname, join } from 'node:path';
import { pluginConfigError } from './config-errors.js';
import { mkdir } from 'node:fs/promises';

/** Opens only the configured audit store (for `fish-sre audit ...`), not the whole loop. */
export async function composeAuditOnly(config: FishConfig): Promise<AuditStore> {
  const registry = createFishRegistry({ configDir: dirname(config.configPath) });
  const name = config.audit.name ?? config.audit.type;
  const logger = createConsoleLogger({ level: 'warn' });
  await mkdir(join(config.dataDir, name), { recursive: true });
  const audit = await registry
    .create(
      'audit',
      config.audit.type,
      config.audit.options,
      {
        name,
        logger,
        clock: systemClock,
        catalog: () => {
          throw new Error('no catalog loaded');
        },
        dataDir: join(config.dataDir, name),
        fetch: globalThis.fetch,
      },
      'audit.options',
      config.audit.package,
    )
    .catch((error: unknown) => {
      throw pluginConfigError(config, ['audit'], error);
    });
  await audit.init?.();
  return audit;
}

/** The audit store the demo wrote (`.fish-demo/audit.sqlite`). */
export async function openDemoAudit(dataDir: string): Promise<AuditStore> {
  const { createSqliteAuditStore } = await import('@fish-sre/audit-sqlite');
  const store = createSqliteAuditStore({ path: join(dataDir, 'audit.sqlite') });
  await store.init?.();
  return store;
}
