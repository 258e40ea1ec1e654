import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectStatus, formatStatus, parseMetrics } from '../../src/commands/status.js';
import { createMemoryAuditStore } from '@fish-sre/core';
import { sampleOutboxEntry } from '@fish-sre/testkit';
import { startDemoFish } from './demo-fish.js';

describe('fish-sre status', () => {
  let fish: Awaited<ReturnType<typeof startDemoFish>>;
  beforeAll(async () => {
    // The demo incident proposed and left waiting: a live fish with work for the human.
    fish = await startDemoFish({ approve: false });
  }, 60_000);
  afterAll(() => fish?.stop());

  it('shows the waiting proposal with its age, the sources and the budget, from the audit store and /metrics', async () => {
    const status = await collectStatus({ audit: fish.app.audit, metricsUrl: fish.metricsUrl, budgetCapEur: 20 });
    expect(status.running).toMatchObject({ reachable: true, healthy: true, version: '0.1.0' });
    expect(status.proposalsWaiting).toHaveLength(1);
    expect(status.proposalsWaiting[0]).toMatchObject({ patternId: 'docker-compose-stopped-post-reboot', host: 'penny' });
    expect(status.proposalsWaiting[0]!.expiresInSeconds).toBeGreaterThan(800);
    expect(status.openIncidents).toEqual([expect.objectContaining({ patternId: 'docker-compose-stopped-post-reboot', state: 'waiting for you' })]);
    expect(status.sources).toEqual([{ name: 'demo-logs', up: true }]);
    expect(status.budget).toMatchObject({ spentEur: 0, capEur: 20, leftEur: 20 });
    expect(status.lastExecutions).toEqual([]);
    expect(status.outbox).toEqual({ pending: 0, oldestSeconds: null });
    const text = formatStatus(status);
    expect(text).toContain('Outbox (0 undelivered)');
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(40);
    expect(text).toContain('Waiting for you (1)');
    expect(text).toContain('✓ demo-logs up');
    expect(text).toContain('0.00 of 20.00 EUR');
  });

  it('says so when fish does not answer, and still reads the audit store', async () => {
    const status = await collectStatus({ audit: fish.app.audit, metricsUrl: 'http://127.0.0.1:9/metrics', budgetCapEur: 0 });
    expect(status.running.reachable).toBe(false);
    expect(status.proposalsWaiting).toHaveLength(1);
    const text = formatStatus(status);
    expect(text.split('\n')[0]).toBe('fish NOT REACHED');
    expect(text).toContain('unknown (fish not reached)');
    expect(text).toContain('no LLM configured');
  });

  it("shows the delivery backlog: undelivered notifications, the oldest one's age and the last error", async () => {
    const audit = createMemoryAuditStore();
    const now = Date.UTC(2026, 0, 15, 12, 30, 0);
    await audit.enqueueOutbox(sampleOutboxEntry({ createdAt: new Date(now - 600_000).toISOString(), lastError: 'ntfy: connect ECONNREFUSED 127.0.0.1:80' }));
    await audit.enqueueOutbox(sampleOutboxEntry({ createdAt: new Date(now - 60_000).toISOString() }));
    const status = await collectStatus({ audit, budgetCapEur: 0, now: () => now });
    expect(status.outbox).toEqual({ pending: 2, oldestSeconds: 600, lastError: 'ntfy: connect ECONNREFUSED 127.0.0.1:80' });
    const text = formatStatus(status);
    expect(text).toContain('Outbox (2 undelivered)');
    expect(text).toContain('  oldest 10m old');
  });

  it('parses label values with escapes', () => {
    const parsed = parseMetrics('fish_source_up{source="a\\"b"} 1\n# HELP x\n');
    expect(parsed.get('fish_source_up')).toEqual([{ labels: { source: 'a"b' }, value: 1 }]);
  });
});
