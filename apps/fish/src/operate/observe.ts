import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditStore, CatalogHolder, Clock, EngineObserver, FishEngine, Source } from '@fish-sre/core';
import type { Heartbeat } from './heartbeat.js';
import type { LoopHealth } from './loop-health.js';
import type { FishMetrics } from './metrics.js';

const FINISHED = new Set(['succeeded', 'failed', 'rolled_back', 'escalated', 'interrupted']);

export interface ObserveOptions {
  metrics: FishMetrics;
  engine: FishEngine;
  audit: AuditStore;
  sources: readonly Source[];
  catalog: CatalogHolder;
  clock: Clock;
  /** Monthly LLM cap in EUR; 0 without an LLM. */
  budgetCapEur: number;
  health: () => LoopHealth | undefined;
  heartbeat: () => Heartbeat | undefined;
}

/** Remembers the last `limit` ids, so each execution or expiry is counted once. */
function seenOnce(limit = 10_000) {
  const seen = new Set<string>();
  return (id: string) => {
    if (seen.has(id)) return false;
    seen.add(id);
    if (seen.size > limit) seen.delete(seen.values().next().value as string);
    return true;
  };
}

/**
 * The engine's per-source counters (received, dropped, stale, deduplicated) as metrics, labelled with the
 * source instance's name: one of `sources`, else `other` (the label set stays the configured
 * sources whatever an event claims). Every configured source's series exist from the start at 0
 * (rate() works from the first event on); `other`'s appear with the first event counted there.
 *
 * Nothing on the hot path: the observer attaches to the engine, which then keeps the per-source
 * counts itself, and the metrics read them when scraped.
 */
export function fishEngineObserver(metrics: FishMetrics, sources: readonly string[]): EngineObserver {
  for (const source of sources) if (source !== 'other') metrics.sources.known.add(source);
  return {
    attach(view) {
      metrics.sources.views.push(view);
    },
  };
}

/**
 * Feeds the metrics from the loop's events (each emitted after its audit row is written) and,
 * at scrape time, from what is cheaper to read than to track: engine counters, source states,
 * waiting proposals, the month's LLM spend, loop health.
 */
export function observeFish(options: ObserveOptions): void {
  const { metrics, engine, audit, clock } = options;
  const firstExecution = seenOnce();
  const firstExpiry = seenOnce();
  engine.on('incident', (incident) => metrics.incidents.inc({ pattern: incident.patternId, host: incident.host }));
  engine.on('proposal', (proposal) => metrics.proposals.inc({ pattern: proposal.patternId, outcome: 'proposed' }));
  engine.on('decision', (proposal) => {
    metrics.proposals.inc({ pattern: proposal.patternId, outcome: proposal.status });
    if (proposal.decidedAt && !proposal.autoExec) {
      metrics.approvalLatency.observe({ pattern: proposal.patternId }, Math.max(0, (Date.parse(proposal.decidedAt) - Date.parse(proposal.createdAt)) / 1000));
    }
  });
  engine.on('execution', (execution) => {
    if (!FINISHED.has(execution.status) || !firstExecution(execution.id)) return;
    metrics.executions.inc({ pattern: execution.patternId, host: execution.targetHost, outcome: execution.status });
    metrics.executionDuration.observe({ pattern: execution.patternId }, Math.max(0, (Date.parse(execution.updatedAt) - Date.parse(execution.createdAt)) / 1000));
  });

  // Dropped, stale and deduplicated events are counted per source by fishEngineObserver.
  const collect = async () => {
    for (const source of options.sources) metrics.sourceUp.set({ source: source.name }, (source.health?.().state ?? 'connected') === 'connected' ? 1 : 0);
    const now = clock.now();
    const waiting = await audit.listProposals({ status: 'proposed', limit: 500 }).catch(() => []);
    metrics.proposalsWaiting.set(waiting.length);
    metrics.oldestWaiting.set(waiting.reduce((oldest, proposal) => Math.max(oldest, (now - Date.parse(proposal.createdAt)) / 1000), 0));
    for (const proposal of await audit.listProposals({ status: 'expired', limit: 100 }).catch(() => [])) {
      if (firstExpiry(proposal.id)) metrics.proposals.inc({ pattern: proposal.patternId, outcome: 'expired' });
    }
    const backlog = await audit.outboxBacklog().catch(() => undefined);
    if (backlog) {
      metrics.outboxPending.set(backlog.pending);
      metrics.outboxOldest.set(backlog.oldestCreatedAt ? Math.max(0, (now - Date.parse(backlog.oldestCreatedAt)) / 1000) : 0);
    }
    const spent = await audit.spentInMonth(new Date(now).toISOString().slice(0, 7)).catch(() => 0);
    metrics.llmBudget.set(options.budgetCapEur);
    metrics.llmSpent.set(spent);
    metrics.llmBudgetRemaining.set(Math.max(0, options.budgetCapEur - spent));
    metrics.catalogPatterns.set(options.catalog.catalog.patterns.length);
    const health = options.health();
    metrics.loopHealthy.set(health ? ((await health.check()).healthy ? 1 : 0) : 0);
    const beat = options.heartbeat()?.state().lastSuccessAt;
    metrics.heartbeatLastSuccess.set(beat ? beat / 1000 : 0);
  };
  scrapeHooks.set(metrics.registry, collect);
}

/** Work to do right before a scrape, per registry (filled by observeFish). */
const scrapeHooks = new WeakMap<object, () => Promise<void>>();

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** `GET /metrics` in the Prometheus text format, on its own address (not the approval endpoint's). */
export async function startMetricsServer(options: { metrics: FishMetrics; host: string; port: number }): Promise<MetricsServer> {
  const { registry } = options.metrics;
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(path === '/metrics' ? 405 : 404, { 'content-type': 'text/plain' }).end(path === '/metrics' ? 'GET only\n' : 'fish serves /metrics\n');
      return;
    }
    void (async () => {
      await scrapeHooks.get(registry)?.();
      const body = await registry.metrics();
      response.writeHead(200, { 'content-type': registry.contentType }).end(body);
    })().catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(`metrics failed: ${(error as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
