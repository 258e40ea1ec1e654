// The Prometheus source: its options schema and the poll loop that turns held metric conditions into events.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  DurationSchema,
  HttpAuthSchema,
  httpAuthorization,
  FishError,
  FishErrorCode,
  describeError,
  errorMessage,
  parseOptions,
  redactSecrets,
  silentLogger,
  sleep,
  systemClock,
  type CatalogSnapshot,
  type Clock,
  type Logger,
  type ObservedEvent,
  type Source,
  type SourceHealth,
} from '@fish-sre/core';
import { compare, conditionKey, labelsKey, metricConditions, type MetricCondition } from './metric-conditions.js';
import { SCOPE, prometheusInstantQuery, type InstantQueryResult } from './prometheus-query.js';

export { compare, metricConditions } from './metric-conditions.js';
export { parseSampleValue, prometheusInstantQuery, type InstantQueryResult, type InstantSeries } from './prometheus-query.js';

export const PrometheusSourceOptionsSchema = z
  .object({
    /** Base URL of Prometheus, e.g. `http://prometheus:9090`. */
    url: z
      .string()
      .url()
      .refine((value) => /^https?:\/\//.test(value), 'must start with http:// or https://'),
    /** How often every catalog metric signal is queried. @default 30s */
    interval: DurationSchema.default(30_000),
    /** Timeout of one query (also sent to Prometheus as `timeout`). @default 10s */
    timeout: DurationSchema.default(10_000),
    /** Credentials for a reverse proxy in front of Prometheus. */
    auth: HttpAuthSchema.optional(),
    /** Series label names read, in order, for the event's host and service. */
    labels: z
      .object({
        host: z.array(z.string().min(1)).min(1).default(['host', 'instance']),
        service: z.array(z.string().min(1)).min(1).default(['service', 'job']),
      })
      .strict()
      .default({ host: ['host', 'instance'], service: ['service', 'job'] }),
    /** Strip the `:port` of an `instance` label used as host. @default true */
    stripPort: z.boolean().default(true),
  })
  .strict();

export type PrometheusSourceConfig = z.input<typeof PrometheusSourceOptionsSchema>;

export interface PrometheusSourceOptions extends PrometheusSourceConfig {
  /** @default 'prometheus' */
  name?: string;
  /** The current catalog; re-read every cycle (it may be hot-reloaded). */
  catalog: () => Pick<CatalogSnapshot, 'patterns'>;
  fetch?: typeof globalThis.fetch;
  logger?: Logger;
  clock?: Clock;
}

/**
 * A Source that polls Prometheus instant queries for every metric signal in the catalog and emits
 * an event per series once its condition has held for the signal's `for:` duration.
 */
export function createPrometheusSource(options: PrometheusSourceOptions): Source {
  const { name: givenName, catalog, fetch: givenFetch, logger: givenLogger, clock: givenClock, ...rest } = options;
  if (typeof catalog !== 'function') {
    throw new FishError({ code: FishErrorCode.PLUGIN_OPTIONS_INVALID, message: errorMessage(SCOPE, 'invalid options: catalog: expected a function returning the current catalog') });
  }
  const config = parseOptions(PrometheusSourceOptionsSchema, rest, SCOPE);
  const name = givenName ?? 'prometheus';
  const fetchImpl = givenFetch ?? globalThis.fetch;
  const logger = (givenLogger ?? silentLogger).child({ source: name });
  const clock = givenClock ?? systemClock;
  const baseUrl = config.url.replace(/\/+$/, '');
  const { headers, secrets } = httpAuthorization(config.auth);
  const clean = (text: string) => {
    let result = redactSecrets(text);
    for (const secret of secrets) result = result.split(secret).join('[REDACTED]');
    return result;
  };
  const closing = new AbortController();
  const counters: Record<string, number> = { events_emitted: 0, polls: 0, queries: 0, query_errors: 0, warnings: 0, series_seen: 0, non_finite_values: 0 };
  let state: SourceHealth['state'] = 'down';
  let detail: string | undefined = 'not started';

  const firstLabel = (labels: Record<string, string>, names: readonly string[]) => {
    for (const labelName of names) {
      const value = labels[labelName];
      if (value) return value;
    }
    return undefined;
  };
  const hostOf = (labels: Record<string, string>) => {
    for (const labelName of config.labels.host) {
      const value = labels[labelName];
      if (!value) continue;
      return config.stripPort && labelName === 'instance' ? value.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1') : value;
    }
    return 'unknown';
  };

  return {
    specificationVersion: 'v1',
    name,
    async *events(signal: AbortSignal): AsyncGenerator<ObservedEvent> {
      if (signal.aborted || closing.signal.aborted) return;
      const session = AbortSignal.any([signal, closing.signal]);
      /** condition key -> series key -> when the condition started to hold, and whether it was emitted. */
      const active = new Map<string, Map<string, { since: number; emitted: boolean }>>();
      state = 'reconnecting';
      detail = 'first poll pending';
      while (!session.aborted) {
        const started = clock.now();
        counters.polls!++;
        let conditions: MetricCondition[] = [];
        try {
          conditions = metricConditions(catalog());
        } catch (error) {
          logger.warn(errorMessage(SCOPE, `cannot read the catalog: ${describeError(error)}`));
        }
        const byQuery = new Map<string, MetricCondition[]>();
        for (const condition of conditions) byQuery.set(condition.query, [...(byQuery.get(condition.query) ?? []), condition]);
        const failures: string[] = [];
        const ready: ObservedEvent[] = [];
        for (const [query, queryConditions] of byQuery) {
          if (session.aborted) break;
          counters.queries!++;
          let result: InstantQueryResult;
          try {
            result = await prometheusInstantQuery({ baseUrl, query, headers, timeoutMs: config.timeout, fetch: fetchImpl, signal: session, clean });
          } catch (error) {
            if (session.aborted) break;
            counters.query_errors!++;
            failures.push(describeError(error).replace(`[fish-sre] [${SCOPE}] `, ''));
            logger.warn(describeError(error));
            continue;
          }
          for (const warning of result.warnings) {
            counters.warnings!++;
            logger.warn(errorMessage(SCOPE, `query ${JSON.stringify(query)}: Prometheus warns: ${warning}`));
          }
          const now = clock.now();
          for (const condition of queryConditions) {
            const key = conditionKey(condition);
            const previous = active.get(key) ?? new Map<string, { since: number; emitted: boolean }>();
            const next = new Map<string, { since: number; emitted: boolean }>();
            for (const series of result.series) {
              counters.series_seen!++;
              if (!Number.isFinite(series.value)) counters.non_finite_values!++;
              if (!compare(series.value, condition.op, condition.threshold)) continue;
              const seriesKey = labelsKey(series.labels);
              const tracked = previous.get(seriesKey) ?? { since: now, emitted: false };
              next.set(seriesKey, tracked);
              if (tracked.emitted || now - tracked.since < condition.forMs) continue;
              tracked.emitted = true;
              // One event per episode: the id stays the same while the condition keeps holding.
              const id = `prom:${createHash('sha256').update(`${name}\u0000${key}\u0000${seriesKey}\u0000${tracked.since}`).digest('hex').slice(0, 40)}`;
              const finite = Number.isFinite(series.value);
              // ObservedEventSchema wants a finite number: ±Inf becomes ±MAX_VALUE, the text keeps the truth.
              const value = finite ? series.value : series.value > 0 ? Number.MAX_VALUE : -Number.MAX_VALUE;
              const labels = finite ? { ...series.labels } : { ...series.labels, __value__: series.raw };
              const rendered =
                Object.keys(series.labels).length > 0
                  ? `${query}{${Object.entries(series.labels)
                      .map(([k, v]) => `${k}="${v}"`)
                      .join(', ')}}`
                  : query;
              ready.push({
                id,
                kind: 'metric',
                source: name,
                time: now,
                host: hostOf(series.labels),
                service: firstLabel(series.labels, config.labels.service) ?? 'unknown',
                level: 'unknown',
                message: `${rendered} = ${series.raw} (${condition.op} ${condition.threshold}${condition.forMs > 0 ? ` for ${condition.forMs / 1000}s` : ''})`,
                labels,
                metric: { name: query, value, heldForMs: now - tracked.since },
              });
            }
            active.set(key, next);
          }
        }
        // Forget conditions that left the catalog.
        const keys = new Set(conditions.map(conditionKey));
        for (const key of active.keys()) if (!keys.has(key)) active.delete(key);
        if (byQuery.size === 0) {
          state = 'connected';
          detail = 'the catalog has no metric signals: nothing to query';
        } else if (failures.length === 0) {
          state = 'connected';
          detail = undefined;
        } else {
          state = failures.length === byQuery.size ? 'reconnecting' : 'connected';
          detail = `${failures.length} of ${byQuery.size} queries failed: ${failures[0]}`;
        }
        for (const event of ready) {
          if (session.aborted) return;
          counters.events_emitted!++;
          yield event;
        }
        const elapsed = clock.now() - started;
        await sleep(Math.max(0, config.interval - elapsed), session);
      }
      state = 'down';
      detail = 'stopped';
    },
    health: () => ({ state, ...(detail === undefined ? {} : { detail }), counters: { ...counters } }),
    async check(signal?: AbortSignal) {
      try {
        await prometheusInstantQuery({ baseUrl, query: 'vector(1)', headers, timeoutMs: config.timeout, fetch: fetchImpl, ...(signal ? { signal } : {}), clean });
        return { ok: true, detail: `Prometheus at ${baseUrl} answers queries` };
      } catch (error) {
        return { ok: false, detail: describeError(error).replace(`[fish-sre] [${SCOPE}] `, '') };
      }
    },
    async close() {
      closing.abort();
    },
  };
}
