import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalSigner, createConsoleLogger, type ExecutionRecord } from '@fish-sre/core';
import { composeFish, type FishApp } from '../../src/compose.js';
import { FishConfigSchema } from '../../src/config.js';
import { prepareDemoSandbox } from '../../src/commands/demo-sandbox.js';
import { bundledCatalogDir } from '../../src/paths.js';

/**
 * The demo's whole loop in this process, with /metrics on a free port: the bundled logs are
 * replayed, the proposal is approved through the engine's token check, the real catalog fix runs
 * in a sandbox. For tests that scrape a fish that has been through an incident.
 */
export async function startDemoFish(options: { approve?: boolean } = {}): Promise<{ app: FishApp; metricsUrl: string; execution?: ExecutionRecord; stop: () => Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'fish-metrics-'));
  const catalogDir = bundledCatalogDir();
  const { executor } = await prepareDemoSandbox(dataDir, catalogDir);
  const secret = ApprovalSigner.generateSecret();
  const config = {
    ...FishConfigSchema.parse({
      catalog: catalogDir,
      dataDir,
      approval: { listen: { host: '127.0.0.1', port: 0 }, publicUrl: 'http://127.0.0.1:1', secret, proposalTtl: '15m' },
      sources: [{ type: 'file', name: 'demo-logs', options: { path: join(catalogDir, 'samples', 'demo.jsonl'), replayDelayMs: 1, defaultHost: 'penny', follow: true, pollIntervalMs: 200 } }],
      notifier: { type: 'terminal' },
      executor,
      audit: { type: 'sqlite', options: { path: join(dataDir, 'audit.sqlite') } },
      pipeline: { maxEvidenceAge: null },
      metrics: { listen: { host: '127.0.0.1', port: 0 } },
      log: { level: 'error' },
    }),
    configPath: '(test)',
    secrets: [secret],
  };
  const { createTerminalNotifier } = await import('@fish-sre/core');
  const app = await composeFish(config, { notifier: createTerminalNotifier({ write: () => undefined }), logger: createConsoleLogger({ level: 'error' }), env: {} });
  const finished = new Promise<ExecutionRecord>((resolve) =>
    app.engine.on('execution', (execution) => ['succeeded', 'failed', 'rolled_back', 'escalated'].includes(execution.status) && resolve(execution)),
  );
  const proposed = new Promise<string>((resolve) => app.engine.on('proposal', (_proposal, links) => resolve(links.approveUrl.split('/').pop()!)));
  await app.start();
  const stop = async () => {
    await app.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  const token = await Promise.race([proposed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 30_000))]);
  if (!token) {
    await stop();
    throw new Error('the demo incident was not proposed within 30 s');
  }
  if (options.approve === false) {
    await app.engine.idle(); // the proposal delivered, not only written
    return { app, metricsUrl: `${app.metricsServer!.url}/metrics`, stop };
  }
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await app.engine.decide(token, 'approve', 'test:owner');
  const execution = await finished;
  await app.engine.idle();
  return { app, metricsUrl: `${app.metricsServer!.url}/metrics`, execution, stop };
}
