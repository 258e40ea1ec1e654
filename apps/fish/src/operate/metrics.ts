import type { EngineCountersView } from '@fish-sre/core';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * fish's Prometheus metrics, named by the conventions (`fish_` prefix, `_total` counters, base
 * units: seconds, euros) with low-cardinality labels only: pattern id, source, host, notifier,
 * outcome. Never an incident or proposal id (one series per incident would grow without end).
 * One registry per app (not prom-client's global one), so tests and embedders can run several.
 */
export function createFishMetrics(options: { version: string }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  const registers = [registry];
  // Per-source event counts are not counted here on the hot path: the engine keeps them per source
  // (a field increment on an object its source pump holds) for an observer that attaches, and
  // they are read and summed into their counters when scraped (see fishEngineObserver).
  // prom-client's labelled inc() hashes the labels on every call, and even a call per event into
  // the observer costs the loop more than the counting itself.
  const sources: SourceViews = { known: new Set(), views: [] };
  const published = new Map<string, SourceCounts>();
  const publish = (name: SourceCounterName) =>
    function (this: Counter<string>) {
      for (const [source, counts] of sourceTotals(sources)) {
        let seen = published.get(source);
        if (seen === undefined) {
          seen = emptySourceCounts();
          published.set(source, seen);
          // A new source: all four of its series appear at once, at 0 where nothing was counted yet.
          for (const counter of SOURCE_COUNTERS) metrics[SERIES[counter]].inc({ source }, 0);
        }
        const total = counts[name];
        if (total > seen[name]) this.inc({ source }, total - seen[name]);
        seen[name] = total;
      }
    };
  const metrics = {
    registry,
    sources,
    buildInfo: new Gauge({ name: 'fish_build_info', help: 'Always 1; the labels say which fish runs.', labelNames: ['version', 'node_version'], registers }),
    loopHealthy: new Gauge({ name: 'fish_loop_healthy', help: '1 while the loop is healthy (what the heartbeat and the watchdog check).', registers }),
    eventsReceived: new Counter({ name: 'fish_events_received_total', help: 'Events a source yielded into the loop.', labelNames: ['source'], registers, collect: publish('received') }),
    eventsDropped: new Counter({ name: 'fish_events_dropped_total', help: 'Events dropped because the bounded bus was full.', labelNames: ['source'], registers, collect: publish('dropped') }),
    eventsStale: new Counter({ name: 'fish_events_stale_total', help: 'Events older than maxEvidenceAge: counted, never acted on.', labelNames: ['source'], registers, collect: publish('stale') }),
    eventsDeduplicated: new Counter({ name: 'fish_events_deduplicated_total', help: 'Events whose id was already seen.', labelNames: ['source'], registers, collect: publish('duplicates') }),
    sourceUp: new Gauge({ name: 'fish_source_up', help: '1 when the source is connected, 0 when reconnecting or down.', labelNames: ['source'], registers }),
    incidents: new Counter({ name: 'fish_incidents_total', help: 'Incidents opened, by pattern (UNKNOWN for novel ones).', labelNames: ['pattern', 'host'], registers }),
    proposals: new Counter({ name: 'fish_proposals_total', help: 'Proposals by outcome (proposed, approved, denied, expired).', labelNames: ['pattern', 'outcome'], registers }),
    proposalsWaiting: new Gauge({ name: 'fish_proposals_waiting', help: 'Proposals waiting for a human decision.', registers }),
    oldestWaiting: new Gauge({ name: 'fish_proposal_oldest_waiting_seconds', help: 'Age of the oldest proposal waiting for a decision (0 when none).', registers }),
    approvalLatency: new Histogram({
      name: 'fish_approval_latency_seconds',
      help: 'From proposal to human decision.',
      labelNames: ['pattern'],
      buckets: [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers,
    }),
    executions: new Counter({
      name: 'fish_executions_total',
      help: 'Finished executions by outcome (succeeded, failed, rolled_back, escalated, interrupted).',
      labelNames: ['pattern', 'host', 'outcome'],
      registers,
    }),
    executionDuration: new Histogram({
      name: 'fish_execution_duration_seconds',
      help: 'From execution start to its final state (fix, verify, rollback).',
      labelNames: ['pattern'],
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    llmCalls: new Counter({ name: 'fish_llm_calls_total', help: 'LLM calls, by provider and result.', labelNames: ['provider', 'result'], registers }),
    llmTokens: new Counter({ name: 'fish_llm_tokens_total', help: 'LLM tokens, by direction (input, output).', labelNames: ['provider', 'direction'], registers }),
    llmSpent: new Gauge({ name: 'fish_llm_spent_euros', help: 'LLM spend this calendar month (settled and reserved).', registers }),
    llmBudget: new Gauge({ name: 'fish_llm_budget_euros', help: 'Monthly LLM budget cap (0: no LLM configured).', registers }),
    llmBudgetRemaining: new Gauge({ name: 'fish_llm_budget_remaining_euros', help: 'What is left of the monthly LLM budget.', registers }),
    auditWriteDuration: new Histogram({
      name: 'fish_audit_write_duration_seconds',
      help: 'Audit store writes (state changes).',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    auditWriteFailures: new Counter({ name: 'fish_audit_write_failures_total', help: 'Audit store writes that failed.', labelNames: ['operation'], registers }),
    notificationsSent: new Counter({ name: 'fish_notifications_sent_total', help: 'Notifications delivered, by notifier and kind.', labelNames: ['notifier', 'kind'], registers }),
    notificationFailures: new Counter({ name: 'fish_notification_failures_total', help: 'Notifications that failed, by notifier and kind.', labelNames: ['notifier', 'kind'], registers }),
    catalogLoadDuration: new Gauge({ name: 'fish_catalog_load_duration_seconds', help: 'How long the last catalog load took.', registers }),
    catalogPatterns: new Gauge({ name: 'fish_catalog_patterns', help: 'Patterns in the catalog in use.', registers }),
    catalogReloadSuccess: new Gauge({ name: 'fish_catalog_last_reload_success', help: '1 when the last catalog (re)load succeeded, 0 when it was refused (the last good one stays).', registers }),
    catalogReloadTimestamp: new Gauge({ name: 'fish_catalog_last_reload_timestamp_seconds', help: 'When the catalog was last (re)loaded.', registers }),
    outboxPending: new Gauge({ name: 'fish_notification_outbox_pending', help: 'Notifications recorded but not delivered yet (retried until sent or expired).', registers }),
    outboxOldest: new Gauge({ name: 'fish_notification_outbox_oldest_seconds', help: 'Age of the oldest undelivered notification (0 when none).', registers }),
    heartbeatLastSuccess: new Gauge({ name: 'fish_heartbeat_last_success_timestamp_seconds', help: 'Last successful heartbeat ping (0: none yet or not configured).', registers }),
  };
  metrics.buildInfo.set({ version: options.version, node_version: process.version }, 1);
  return metrics;
}

export type FishMetrics = ReturnType<typeof createFishMetrics>;

/** The per-source event counters, as the engine names them. */
export type SourceCounterName = 'received' | 'dropped' | 'stale' | 'duplicates';

/** The engine's per-source counters, in the order they are listed. */
export const SOURCE_COUNTERS: readonly SourceCounterName[] = ['received', 'dropped', 'stale', 'duplicates'];

/** The metric each per-source counter is published as. */
const SERIES = { received: 'eventsReceived', dropped: 'eventsDropped', stale: 'eventsStale', duplicates: 'eventsDeduplicated' } as const;

/** One source's event counts: plain numbers, incremented on the hot path, read at scrape time. */
export type SourceCounts = Record<SourceCounterName, number>;

export const emptySourceCounts = (): SourceCounts => ({ received: 0, dropped: 0, stale: 0, duplicates: 0 });

/** The engines' per-source counts as fish exports them: the configured sources by name, the rest as `other`. */
export interface SourceViews {
  /** Configured source names: their series exist from the start, at 0. */
  known: Set<string>;
  /** The attached engines' counters (one engine in `fish-sre run`). */
  views: EngineCountersView[];
}

/** The per-source totals, by label: every known source, and `other` once something was counted under another name. */
export function sourceTotals(sources: SourceViews): Map<string, SourceCounts> {
  const totals = new Map<string, SourceCounts>();
  for (const name of sources.known) totals.set(name, emptySourceCounts());
  for (const view of sources.views) {
    for (const [name, counts] of view.bySource()) {
      const label = sources.known.has(name) ? name : 'other';
      let total = totals.get(label);
      if (total === undefined) {
        total = emptySourceCounts();
        totals.set(label, total);
      }
      for (const counter of SOURCE_COUNTERS) total[counter] += counts[counter];
    }
  }
  return totals;
}
