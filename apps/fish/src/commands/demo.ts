import { rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { ApprovalSigner, createConsoleLogger, createTerminalNotifier, describeError, type ExecutionRecord } from '@fish-sre/core';
import { composeFish } from '../compose.js';
import { FishConfigSchema, type FishConfig } from '../config.js';
import { bundledCatalogDir } from '../paths.js';
import { printHistory } from './audit.js';
import { prepareDemoSandbox } from './demo-sandbox.js';

export interface DemoOptions {
  /** Approve automatically through the approval endpoint, as a phone tap would. */
  yes: boolean;
  port?: number;
  dataDir?: string;
  /** Delay between replayed log lines. @default 15 */
  replayDelayMs?: number;
  /** Give up waiting for a decision after this long. @default 15 min */
  decisionTimeoutMs?: number;
  write?: (text: string) => void;
  /** A catalog folder other than the bundled one. */
  catalogDir?: string;
  /** Where /metrics listens. @default a free port */
  metricsPort?: number;
  /** Send the proposal to Telegram and take the decision from its buttons (instead of the terminal). */
  telegram?: { botToken: string; chatId: number; apiUrl?: string };
}

async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number>((resolvePort, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolvePort(typeof address === 'object' && address ? address.port : port));
      });
    });
  try {
    return await tryPort(preferred);
  } catch {
    return tryPort(0);
  }
}

const TERMINAL: ReadonlySet<string> = new Set(['succeeded', 'rolled_back', 'escalated', 'interrupted']);

/**
 * `fish-sre demo`: the whole loop on embedded defaults, no external service. Bundled incident logs
 * are replayed through the file source, the deterministic classifier matches the bundled catalog,
 * the proposal is shown with a local approval URL, and once approved (in a browser, with
 * `fish-sre approve`, or `--yes`) the real catalog fix and verify scripts run through the local
 * executor in a sandbox folder where `docker` is a stand-in. The audit then tells the story.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const dataDir = resolve(options.dataDir ?? '.fish-demo');
  const catalogDir = options.catalogDir ?? bundledCatalogDir();
  await rm(dataDir, { recursive: true, force: true });
  const { executor } = await prepareDemoSandbox(dataDir, catalogDir);
  const port = await freePort(options.port ?? 8080);
  const secret = ApprovalSigner.generateSecret();
  const url = `http://127.0.0.1:${port}`;
  await writeFile(join(dataDir, 'demo-state.json'), JSON.stringify({ approvalUrl: url, secret, pid: process.pid }), { mode: 0o600 });

  const config: FishConfig = {
    ...FishConfigSchema.parse({
      catalog: catalogDir,
      dataDir,
      approval: { listen: { host: '127.0.0.1', port }, publicUrl: url, secret, proposalTtl: '15m' },
      sources: [{ type: 'file', name: 'demo-logs', options: { path: join(catalogDir, 'samples', 'demo.jsonl'), replayDelayMs: options.replayDelayMs ?? 15, defaultHost: 'penny' } }],
      notifier: options.telegram ? { type: 'telegram', options: { ...options.telegram, pollTimeoutSeconds: 2 } } : { type: 'terminal' },
      executor,
      audit: { type: 'sqlite', options: { path: join(dataDir, 'audit.sqlite') } },
      // The bundled logs are from a morning in April: replayed, they are evidence by design.
      pipeline: { maxEvidenceAge: null },
      // Prometheus metrics on a free port (printed below): several demos may run side by side.
      metrics: { listen: { host: '127.0.0.1', port: options.metricsPort ?? 0 } },
      log: { level: 'warn' },
    }),
    configPath: '(demo)',
    secrets: [secret, ...(options.telegram ? [options.telegram.botToken] : [])],
  };
  const app = await composeFish(config, { ...(options.telegram ? {} : { notifier: createTerminalNotifier({ write }) }), logger: createConsoleLogger({ level: 'warn' }) });

  write(`fish demo: replaying ${join(catalogDir, 'samples', 'demo.jsonl')} against ${app.catalog.catalog.patterns.length} catalog patterns\n`);
  write(`approval page: ${url}  (audit and sandbox in ${dataDir})\n`);
  const finished = new Promise<ExecutionRecord>((resolveFinished) => {
    app.engine.on('execution', (execution) => {
      write(`  execution ${execution.id}: ${execution.status}${execution.detail ? ` (${execution.detail})` : ''}\n`);
      if (TERMINAL.has(execution.status) || (execution.status === 'failed' && execution.detail?.includes('escalat'))) resolveFinished(execution);
    });
  });
  const denied = new Promise<'denied'>((resolveDenied) => {
    app.engine.on('decision', (proposal) => {
      write(`  decision: ${proposal.id} ${proposal.status} by ${proposal.decidedBy ?? '?'}\n`);
      if (proposal.status === 'denied') resolveDenied('denied');
    });
  });
  app.engine.on('incident', (incident) =>
    write(`\n● incident ${incident.id}: ${incident.patternId} on ${incident.host}/${incident.service} (confidence ${Math.round(incident.confidence * 100)}%, ${incident.method})\n`),
  );
  app.engine.on('proposal', (proposal, links) => {
    if (options.yes) {
      write(`  --yes: approving through ${url}/approve/… as a phone tap would\n`);
      setTimeout(() => {
        fetch(links.approveUrl, { method: 'POST', headers: { 'user-agent': 'fish-demo' } })
          .then(async (response) => write(`  approval endpoint answered ${response.status}: ${((await response.json()) as { message: string }).message}\n`))
          .catch((error) => write(`  approval failed: ${describeError(error)}\n`));
      }, 300);
    } else if (options.telegram) {
      write(`  Sent to Telegram chat ${options.telegram.chatId}: tap Approve or Deny there\n`);
    } else {
      write(`  Open the approve link in a browser, or run in another terminal:\n    npx fish-sre approve ${proposal.id} --demo\n`);
    }
  });

  await app.start();
  if (app.metricsServer) write(`metrics: ${app.metricsServer.url}/metrics\n`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout('timeout'), options.decisionTimeoutMs ?? 15 * 60_000);
  });
  const outcome = await Promise.race([finished, denied, timeout]);
  clearTimeout(timer);
  await app.engine.idle();
  write('\nThe audit trail, in order:\n');
  await printHistory(app.audit, write);
  await app.stop();
  if (outcome === 'timeout') {
    write('\nNo decision arrived in time; the proposal stays unexecuted.\n');
    return 1;
  }
  if (outcome === 'denied') {
    write('\nDenied: nothing was run.\n');
    return 0;
  }
  write(`\nDemo finished: execution ${outcome.status}.\n`);
  return outcome.status === 'succeeded' ? 0 : 1;
}
