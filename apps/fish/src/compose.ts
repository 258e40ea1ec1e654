import { createFileStateStore } from './state-store.js';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  ApprovalSigner,
  BudgetGuard,
  CatalogHolder,
  Classifier,
  FishEngine,
  connectDecisionChannel,
  createConsoleLogger,
  createSecretRedactor,
  describeError,
  systemClock,
  type AuditStore,
  type CatalogReloadResult,
  type Clock,
  type EngineCheckpoint,
  type Executor,
  type LLMProvider,
  type Logger,
  type Notifier,
  type PluginContext,
  type PluginInstanceMap,
  type PluginKind,
  type PluginRegistry,
  type Source,
} from '@fish-sre/core';
import { fieldPath, type FishConfig } from './config.js';
import { configError, pluginConfigError, type PluginReference } from './config-errors.js';
import { createFishRegistry } from './plugins.js';
import { openCatalog } from './catalog-layers.js';
import { startApprovalServer, type RunningServer } from './approval-server.js';
import { createOperations, type Operations } from './operate/operations.js';
import { createFishMetrics, type FishMetrics } from './operate/metrics.js';
import { instrumentAudit, instrumentLlm, instrumentNotifier } from './operate/instrument.js';
import { fishEngineObserver, observeFish, startMetricsServer, type MetricsServer } from './operate/observe.js';
import { startAuditAnchor } from './operate/audit-anchor.js';
import { VERSION } from './version.js';
import { createFileBundleWriter } from './unknown-bundles.js';

export interface FishApp {
  engine: FishEngine;
  catalog: CatalogHolder;
  audit: AuditStore;
  /** The first notifier. */
  notifier: Notifier;
  /** Every notifier, in fallback order (the first is `notifier`). */
  notifiers: Notifier[];
  executor: Executor;
  sources: Source[];
  llm?: LLMProvider;
  signer: ApprovalSigner;
  server?: RunningServer;
  logger: Logger;
  /** Loop health, heartbeat and systemd watchdog (after start). */
  operations?: Operations;
  metrics: FishMetrics;
  /** The `/metrics` endpoint, when `metrics.listen` is configured (after start). */
  metricsServer?: MetricsServer;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ComposeOptions {
  registry?: PluginRegistry;
  clock?: Clock;
  logger?: Logger;
  /** Start the approval HTTP server. @default true */
  listen?: boolean;
  /** Overrides for embedding and tests. */
  notifier?: Notifier;
  /** See FishEngineOptions.checkpoint. */
  checkpoint?: (step: EngineCheckpoint) => void;
  /** Where NOTIFY_SOCKET / WATCHDOG_USEC are read. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * Config -> composed pipeline. Every plugin is created (and its options validated) before
 * anything starts, so a mistake stops start-up with a message naming the config path.
 */
export async function composeFish(config: FishConfig, options: ComposeOptions = {}): Promise<FishApp> {
  const redact = createSecretRedactor(config.secrets);
  const baseLogger = options.logger ?? createConsoleLogger({ level: config.log.level, format: config.log.format });
  const logger: Logger = wrapRedacting(baseLogger, redact);
  const clock = options.clock ?? systemClock;
  const registry = options.registry ?? createFishRegistry({ configDir: dirname(config.configPath) });
  await mkdir(config.dataDir, { recursive: true });
  const metrics = createFishMetrics({ version: VERSION });
  const loadStarted = performance.now();
  const watchOptions = config.catalogWatch ? { pollIntervalMs: config.catalogWatch.every } : {};
  const catalog = await CatalogHolder.load(openCatalog(config.catalog, dirname(config.configPath), watchOptions), { logger }).catch(async (error: unknown) => {
    // A catalog folder that is not there is a mistake in the config: say which line.
    for (const [index, entry] of config.catalog.entries()) {
      if (
        entry !== 'bundled' &&
        !(await stat(entry).then(
          (found) => found.isDirectory(),
          () => false,
        ))
      ) {
        throw configError(
          config,
          config.catalog.length === 1 ? ['catalog'] : ['catalog', index],
          `folder ${entry} does not exist (a relative path is taken from the config file's folder); expected \`bundled\` or a catalog folder holding patterns/ and scripts/`,
          error,
        );
      }
    }
    throw error;
  });
  metrics.catalogLoadDuration.set((performance.now() - loadStarted) / 1000);
  metrics.catalogReloadSuccess.set(1);
  metrics.catalogReloadTimestamp.set(clock.now() / 1000);
  const recordReload = (result: CatalogReloadResult) => {
    metrics.catalogReloadSuccess.set(result.ok ? 1 : 0);
    metrics.catalogReloadTimestamp.set(clock.now() / 1000);
  };
  const reload = catalog.reload.bind(catalog);
  catalog.reload = async () => {
    const started = performance.now();
    const result = await reload();
    metrics.catalogLoadDuration.set((performance.now() - started) / 1000);
    recordReload(result);
    return result;
  };
  // Each plugin gets its own folder under dataDir (cursors, the SQLite file, known_hosts).
  const context = async (name: string): Promise<PluginContext> => {
    const dataDir = join(config.dataDir, name);
    await mkdir(dataDir, { recursive: true });
    return { name, logger: logger.child({ plugin: name }), clock, catalog: () => catalog.catalog, dataDir, fetch: globalThis.fetch, state: createFileStateStore(dataDir) };
  };

  // A plugin the config names wrongly (unknown type, bad option) is a config error: it names the
  // file and the line of the offending key, like every other.
  const create = async <K extends PluginKind>(kind: K, reference: PluginReference, at: PropertyKey[]): Promise<PluginInstanceMap[K]> => {
    const where = fieldPath([...at, 'options']);
    try {
      return await registry.create(kind, reference.type, reference.options, await context(reference.name ?? reference.type), where, reference.package);
    } catch (error) {
      throw pluginConfigError(config, at, error);
    }
  };
  const audit = instrumentAudit(await create('audit', config.audit, ['audit']), metrics);
  await audit.init?.();
  const notifiers: Notifier[] = [];
  for (const [index, reference] of config.notifiers.entries()) {
    // `notifier:` (one) is read as a list of one; errors point at the key the file has.
    const at: PropertyKey[] = config.notifiers.length === 1 && index === 0 ? ['notifier'] : ['notifiers', index];
    const created = index === 0 && options.notifier ? options.notifier : await create('notifier', reference, at);
    notifiers.push(instrumentNotifier(created, metrics));
  }
  const notifier = notifiers[0]!;
  // Budget warnings go through the engine's outbox like every other notification.
  let engineRef: FishEngine | undefined;
  const executor = await create('executor', config.executor, ['executor']);
  const sources: Source[] = [];
  // Events received are counted per source by the engine (fishEngineObserver): no wrapper on the hot path.
  for (const [index, source] of config.sources.entries()) sources.push(await create('source', source, ['sources', index]));
  let llm: LLMProvider | undefined;
  let classifier: Classifier;
  let draftPatterns: { llm: LLMProvider; budget: BudgetGuard } | undefined;
  if (config.llm) {
    llm = instrumentLlm(await create('llm', config.llm, ['llm']), metrics);
    const budget = new BudgetGuard({
      store: audit,
      monthlyCapEur: config.llm.monthlyBudgetEur,
      clock,
      onExhausted: ({ month, spentEur, capEur }) =>
        void engineRef
          ?.notify({
            kind: 'budget',
            title: 'fish: LLM budget reached',
            body: `Spent ${spentEur.toFixed(2)} of ${capEur} EUR in ${month}. Classifying deterministically until next month.`,
            priority: 'default',
            tags: ['moneybag'],
          })
          .catch((error) => logger.error(`budget notification failed: ${describeError(error)}`)),
    });
    if (config.llm.draftUnknownPatterns) draftPatterns = { llm, budget };
    classifier = new Classifier({ llm, budget, clock, logger, recogniseNovel: config.llm.recogniseNovel, ...(config.llm.fallbackModel ? { fallbackModel: config.llm.fallbackModel } : {}) });
  } else {
    classifier = new Classifier({ clock, logger });
  }
  const signer = new ApprovalSigner(config.approval.secret);
  const engine = new FishEngine({
    catalog: () => catalog.catalog,
    sources,
    audit,
    notifier,
    outbox: {
      fallbacks: notifiers.slice(1),
      failoverAfterAttempts: config.delivery.failoverAfterAttempts,
      failoverAfterMs: config.delivery.failoverAfter,
      retryInitialMs: config.delivery.retryInitial,
      retryMaxMs: config.delivery.retryMax,
      expireAfterMs: config.delivery.expireAfter,
    },
    executor,
    signer,
    classifier,
    publicUrl: config.approval.publicUrl,
    dryRun: config.dryRun,
    autoExec: config.autoExec,
    proposalTtlMs: config.approval.proposalTtl,
    resumeWindowMs: config.approval.resumeWindow,
    autoExecDenyWindowMs: config.approval.autoExecDenyWindow,
    busCapacity: config.pipeline.busCapacity,
    ...(config.pipeline.maxEvidenceAge !== null ? { maxEvidenceAgeMs: config.pipeline.maxEvidenceAge } : {}),
    dedupCapacity: config.pipeline.dedupCapacity,
    rateLimit: config.pipeline.rateLimit,
    unknown: { minLevel: config.pipeline.unknown.minLevel, count: config.pipeline.unknown.count, windowMs: config.pipeline.unknown.window, cooldownMs: config.pipeline.unknown.cooldown },
    unknownBundles: createFileBundleWriter(join(config.dataDir, 'incidents')),
    clock,
    logger,
    ...(config.instance.id ? { instanceId: config.instance.id } : {}),
    leaseMs: config.instance.lease,
    ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    ...(draftPatterns ? { draftPatterns } : {}),
    observer: fishEngineObserver(
      metrics,
      sources.map((source) => source.name),
    ),
  });
  engineRef = engine;

  let auditAnchor: ReturnType<typeof startAuditAnchor> | undefined;
  const decisionChannels: Array<{ abort: AbortController; done: Promise<void> }> = [];
  let catalogWatch: { abort: AbortController; done: Promise<void> } | undefined;
  observeFish({ metrics, engine, audit, sources, catalog, clock, budgetCapEur: config.llm?.monthlyBudgetEur ?? 0, health: () => app.operations?.health, heartbeat: () => app.operations?.heartbeat });
  let running = false;
  const app: FishApp = {
    engine,
    catalog,
    audit,
    notifier,
    notifiers,
    executor,
    sources,
    signer,
    logger,
    metrics,
    ...(llm ? { llm } : {}),
    async start() {
      if (options.listen !== false) {
        app.server = await startApprovalServer({
          engine,
          audit,
          signer,
          clock,
          logger,
          host: config.approval.listen.host,
          port: config.approval.listen.port,
          corsOrigins: config.approval.corsOrigins,
          trustedProxies: config.approval.trustedProxies,
          ...(config.approval.identityHeader ? { identityHeader: config.approval.identityHeader } : {}),
        });
        logger.info(`approval endpoint listening on ${app.server.url} (public: ${config.approval.publicUrl})`);
      }
      await engine.start();
      if (config.catalogWatch) {
        // The catalog's own watch: a changed file is loaded, an invalid one refused (last good stays).
        const watching = new AbortController();
        catalogWatch = { abort: watching, done: catalog.follow(watching.signal, recordReload).catch((error) => logger.error(`catalog: watching stopped: ${describeError(error)}`)) };
      }
      for (const channel of notifiers.filter((candidate) => candidate.listen)) {
        // Decisions tapped in the chat go through the same token checks as the approval links.
        const listening = new AbortController();
        decisionChannels.push({
          abort: listening,
          done: connectDecisionChannel({ notifier: channel, decider: engine, audit, clock, logger, signal: listening.signal }).catch((error) =>
            logger.error(`${channel.name}: listening for decisions stopped: ${describeError(error)}`),
          ),
        });
        logger.info(`decisions are also taken in ${channel.name}`);
      }
      running = true;
      app.operations = createOperations({ sources, audit, logger, running: () => running, heartbeat: config.heartbeat, env: options.env ?? process.env });
      if (config.metrics && options.listen !== false) {
        app.metricsServer = await startMetricsServer({ metrics, host: config.metrics.listen.host, port: config.metrics.listen.port });
        logger.info(`metrics on ${app.metricsServer.url}/metrics`);
      }
      if (config.auditAnchor) auditAnchor = startAuditAnchor({ audit, notifier, logger, everyMs: config.auditAnchor.every });
      await app.operations.started(`${catalog.catalog.patterns.length} patterns, ${sources.length} source(s)`);
      logger.info(
        `fish started: ${catalog.catalog.patterns.length} patterns, ${sources.length} source(s), notifier ${notifiers.map((each) => each.name).join(' then ')}, executor ${executor.name}${config.dryRun ? ', DRY RUN' : ''}`,
      );
    },
    async stop() {
      running = false;
      auditAnchor?.stop();
      await app.operations?.stop();
      await app.metricsServer?.close();
      for (const channel of decisionChannels) channel.abort.abort();
      await Promise.all(decisionChannels.map((channel) => channel.done));
      decisionChannels.length = 0;
      catalogWatch?.abort.abort();
      await catalogWatch?.done;
      await engine.stop();
      await app.server?.close();
      for (const closable of [...sources, ...notifiers, executor, ...(llm ? [llm] : []), audit]) {
        try {
          await closable.close?.();
        } catch (error) {
          logger.warn(`closing ${(closable as { name?: string }).name ?? 'plugin'} failed: ${describeError(error)}`);
        }
      }
    },
  };
  return app;
}

function wrapRedacting(logger: Logger, redact: (text: string) => string): Logger {
  const wrap = (inner: Logger): Logger => ({
    debug: (message, fields) => inner.debug(redact(message), fields && JSON.parse(redact(JSON.stringify(fields)))),
    info: (message, fields) => inner.info(redact(message), fields && JSON.parse(redact(JSON.stringify(fields)))),
    warn: (message, fields) => inner.warn(redact(message), fields && JSON.parse(redact(JSON.stringify(fields)))),
    error: (message, fields) => inner.error(redact(message), fields && JSON.parse(redact(JSON.stringify(fields)))),
    child: (bindings) => wrap(inner.child(bindings)),
  });
  return wrap(logger);
}
