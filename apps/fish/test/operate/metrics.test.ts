import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryAuditStore, type AuditStore } from '@fish-sre/core';
import { createFishMetrics, instrumentAudit } from '../../src/index.js';
import { startDemoFish } from './demo-fish.js';

/** One sample's value: `name{labels} value`, labels matched as given (any order of the rest). */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const given = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.entries(labels).every(([key, value]) => given[key] === value)) return Number(match[3]);
  }
  return undefined;
}

describe('/metrics of a fish that went through the demo incident', () => {
  let fish: Awaited<ReturnType<typeof startDemoFish>>;
  let body: string;
  let contentType: string | null;

  beforeAll(async () => {
    fish = await startDemoFish();
    const response = await fetch(fish.metricsUrl);
    contentType = response.headers.get('content-type');
    body = await response.text();
  }, 60_000);
  afterAll(() => fish?.stop());

  it('serves the Prometheus text format on its own address', () => {
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(fish.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new URL(fish.metricsUrl).port).not.toBe(new URL(fish.app.server!.url).port);
  });

  it('counts the incident, the proposal, the decision and the execution by pattern and host', () => {
    const pattern = fish.execution!.patternId;
    expect(fish.execution!.status, JSON.stringify(fish.execution)).toBe('succeeded');
    expect(sample(body, 'fish_incidents_total', { pattern, host: 'penny' })).toBe(1);
    expect(sample(body, 'fish_proposals_total', { pattern, outcome: 'proposed' })).toBe(1);
    expect(sample(body, 'fish_proposals_total', { pattern, outcome: 'approved' })).toBe(1);
    expect(sample(body, 'fish_executions_total', { pattern, host: 'penny', outcome: 'succeeded' })).toBe(1);
    expect(sample(body, 'fish_execution_duration_seconds_count', { pattern })).toBe(1);
    expect(sample(body, 'fish_approval_latency_seconds_count', { pattern })).toBe(1);
    expect(sample(body, 'fish_approval_latency_seconds_sum', { pattern })).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'fish_proposals_waiting')).toBe(0);
  });

  it('counts events per source, source state, notifications, audit writes, catalog and health', () => {
    expect(sample(body, 'fish_events_received_total', { source: 'demo-logs' })).toBeGreaterThan(5);
    expect(sample(body, 'fish_source_up', { source: 'demo-logs' })).toBe(1);
    expect(sample(body, 'fish_notifications_sent_total', { notifier: 'terminal', kind: 'proposal' })).toBe(1);
    expect(sample(body, 'fish_audit_write_duration_seconds_count', { operation: 'transitionExecution' })).toBeGreaterThan(0);
    // The proposal went out through the outbox: its writes are audit writes too.
    for (const operation of ['enqueueOutbox', 'claimOutbox', 'settleOutbox']) expect(sample(body, 'fish_audit_write_duration_seconds_count', { operation })).toBeGreaterThan(0);
    expect(sample(body, 'fish_catalog_patterns')).toBe(fish.app.catalog.catalog.patterns.length);
    expect(sample(body, 'fish_catalog_last_reload_success')).toBe(1);
    expect(sample(body, 'fish_loop_healthy')).toBe(1);
    expect(sample(body, 'fish_build_info', { version: '0.1.0' })).toBe(1);
    expect(sample(body, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(body, 'fish_llm_budget_euros')).toBe(0);
  });

  it('never labels a series with an incident, proposal or execution id', () => {
    expect(body).not.toMatch(/(inc|prop|exe)_[a-f0-9]{20}/);
    expect(body).not.toContain(fish.execution!.id);
  });

  it('follows Prometheus naming: counters end in _total, units are base units', () => {
    const types = [...body.matchAll(/^# TYPE (fish_\S+) (\S+)$/gm)].map((match) => ({ name: match[1]!, type: match[2]! }));
    expect(types.length).toBeGreaterThan(20);
    for (const { name, type } of types) {
      if (type === 'counter') expect(name).toMatch(/_total$/);
      else expect(name).not.toMatch(/_total$/);
      expect(name).not.toMatch(/_(ms|milliseconds|eur|minutes)\b/);
    }
  });

  it('answers only GET /metrics', async () => {
    expect((await fetch(fish.metricsUrl, { method: 'POST' })).status).toBe(405);
    expect((await fetch(fish.metricsUrl.replace('/metrics', '/'))).status).toBe(404);
  });
});

describe('instrumentAudit', () => {
  it('times the optional writes a store has, and leaves the ones it lacks absent', async () => {
    const metrics = createFishMetrics({ version: 'test' });
    // A store without the coordination members (a single-instance store of a plugin author).
    const { claimIncident: _claim, ...withoutClaims } = createMemoryAuditStore();
    const instrumented = instrumentAudit(withoutClaims as AuditStore, metrics);
    expect('claimIncident' in instrumented && typeof instrumented.claimIncident === 'function').toBe(false);
    await instrumented.saveAbsenceStreams!({ streams: [], removed: [] });
    const body = await metrics.registry.metrics();
    expect(sample(body, 'fish_audit_write_duration_seconds_count', { operation: 'saveAbsenceStreams' })).toBe(1);
  });
});
