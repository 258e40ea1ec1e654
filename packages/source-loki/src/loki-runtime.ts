// What every part of the Loki source shares: parsed config, auth headers, redaction, clock, counters and health.
import { httpAuthorization, redactSecrets, silentLogger, systemClock, type Clock, type Logger, type PluginStateStore, type SourceHealth } from '@fish-sre/core';
import type { LokiSourceOptions, ParsedLokiConfig } from './loki-source.js';

export const SCOPE = 'loki';

export interface LokiRuntime {
  config: ParsedLokiConfig;
  /** Instance name (event.source). */
  name: string;
  /** The tenant id, '' without one. */
  tenant: string;
  /** `config.url` without trailing slashes. */
  baseUrl: string;
  /** Auth, tenant and encoding headers of every request. */
  headers: Record<string, string>;
  fetchImpl: typeof globalThis.fetch;
  logger: Logger;
  clock: Clock;
  random: () => number;
  position: PluginStateStore | undefined;
  counters: Record<string, number>;
  /** The health reported by the source, updated by the reader. */
  status: { state: SourceHealth['state']; detail: string | undefined };
  /** Text from Loki or an error with secrets removed, cut to 500 characters. */
  clean(text: string): string;
  /** The clock's now in nanoseconds. */
  nowNs(): bigint;
}

export function createLokiRuntime(config: ParsedLokiConfig, options: LokiSourceOptions): LokiRuntime {
  const name = options.name ?? 'loki';
  const clock = options.clock ?? systemClock;
  const counters: Record<string, number> = {
    events_emitted: 0,
    lines_received: 0,
    backfilled_lines: 0,
    duplicates_skipped: 0,
    dropped_entries: 0,
    reconnects: 0,
    connect_failures: 0,
    config_errors: 0,
    closes_max_duration: 0,
    closes_concurrency_limit: 0,
    closes_abnormal: 0,
    closes_other: 0,
    backfill_failures: 0,
    dropped_recovered: 0,
    dropped_recovery_failures: 0,
    backfill_truncated: 0,
    uncategorized_responses: 0,
    backfill_window_exceeded: 0,
    protocol_errors: 0,
    backpressure_pauses: 0,
    multiline_joined_lines: 0,
    multiline_cut: 0,
  };
  const { headers, secrets } = httpAuthorization(config.auth);
  if (config.tenant) headers['X-Scope-OrgID'] = config.tenant;
  if (config.categorizeLabels) headers['X-Loki-Response-Encoding-Flags'] = 'categorize-labels';
  const clean = (text: string) => {
    let result = redactSecrets(text);
    for (const secret of secrets) result = result.split(secret).join('[REDACTED]');
    return result.length > 500 ? `${result.slice(0, 500)}...` : result;
  };

  const nowNs = () => BigInt(Math.floor(clock.now())) * 1_000_000n;
  return {
    config,
    name,
    tenant: config.tenant ?? '',
    baseUrl: config.url.replace(/\/+$/, ''),
    headers,
    fetchImpl: options.fetch ?? globalThis.fetch,
    logger: (options.logger ?? silentLogger).child({ source: name }),
    clock,
    random: options.random ?? Math.random,
    position: options.position,
    counters,
    status: { state: 'down', detail: 'not started' },
    clean,
    nowNs,
  };
}
