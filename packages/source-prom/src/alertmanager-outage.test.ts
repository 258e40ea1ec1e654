/**
 * fish is down when an alert fires: the real Alertmanager (Debian's prometheus-alertmanager)
 * cannot deliver it, keeps retrying, and delivers it once the receiver is back. The alert began
 * two hours before (its startsAt), yet it is evidence of a problem now and opens an incident.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalSigner, FishEngine, PatternSchema, createMemoryAuditStore, type CatalogSnapshot } from '@fish-sre/core';
import { freePort, haveRealPrometheus, startRealAlertmanager, type RealProcess } from '@fish-sre/testkit';
import { createAlertmanagerSource } from './index.js';

if (!haveRealPrometheus) throw new Error('Prometheus/Alertmanager binaries missing: apt-get install -y prometheus prometheus-alertmanager');

const TOKEN = 'outage-token-0123456789abcdef';
let port: number;
let alertmanager: RealProcess;

beforeAll(async () => {
  // The receiver's address is fixed now, but nothing listens there yet: fish is down.
  port = await freePort();
  alertmanager = await startRealAlertmanager({ webhookUrl: `http://127.0.0.1:${port}/alertmanager`, bearerToken: TOKEN });
}, 60_000);

afterAll(async () => {
  await alertmanager?.stop();
});

/** A counter of Alertmanager's own /metrics, summed over its label sets. */
async function amCounter(name: string): Promise<number> {
  const text = await (await fetch(`${alertmanager.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes('integration="webhook"')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

describe('an alert that fired while fish was down', () => {
  it('is delivered by the real Alertmanager once the receiver is back, dated at receipt, and opens an incident', async () => {
    const startsAt = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const posted = await fetch(`${alertmanager.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: { alertname: 'HostDown', instance: 'penny:9100', job: 'node', severity: 'critical' },
          annotations: { summary: 'host is down', description: 'penny does not answer' },
          startsAt,
          endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        },
      ]),
    });
    expect(posted.status).toBe(200);
    // Alertmanager tried to send it and failed: the receiver was down when the alert fired.
    expect(await waitUntil(async () => (await amCounter('alertmanager_notifications_failed_total')) > 0, 20_000)).toBe(true);
    expect(await amCounter('alertmanager_notifications_total')).toBeGreaterThan(0);

    const pattern = PatternSchema.parse({
      id: 'host-down',
      title: 'host down',
      required_signals: [{ id: 'down', alert: { alertname: 'HostDown' } }],
      target_host: '$event_host',
      fix: { script: 'fix.sh' },
      verify: { script: 'verify.sh' },
      samples: { match: ['x'] },
    });
    const catalog: CatalogSnapshot = { patterns: [pattern], scriptsDir: '/nonexistent', loadedFrom: 'test', loadedAt: 0, digest: 'x' };
    const audit = createMemoryAuditStore();
    const receiver = createAlertmanagerSource({ bearerToken: TOKEN, listen: { host: '127.0.0.1', port } });
    const engine = new FishEngine({
      catalog: () => catalog,
      sources: [receiver],
      audit,
      notifier: { specificationVersion: 'v1', name: 'test', propose: async () => ({ id: 'n', channel: 'test' }), notify: async () => ({ id: 'n', channel: 'test' }) },
      executor: { specificationVersion: 'v1', name: 'test', hosts: () => ['penny'], run: async () => ({ exitCode: 0, stdout: '', stderr: '', durationMs: 0, timedOut: false }) },
      signer: new ApprovalSigner('d'.repeat(32)),
      publicUrl: 'http://127.0.0.1:8080',
      targets: ['penny'],
      // Evidence older than 10 minutes is stale: the alert's startsAt is two hours old.
      maxEvidenceAgeMs: 600_000,
    });
    const receivedAfter = Date.now();
    // fish comes back on the same address.
    await engine.start();
    try {
      expect(await waitUntil(async () => (await audit.listIncidents()).length > 0, 20_000)).toBe(true);
      const [incident] = await audit.listIncidents();
      expect(incident).toMatchObject({ patternId: 'host-down', host: 'penny', service: 'node' });
      expect(Date.parse(incident!.firstSeen)).toBeGreaterThanOrEqual(receivedAfter);
      expect(engine.stats().stale).toBe(0);
      expect((await audit.listProposals()).map((proposal) => proposal.targetHost)).toEqual(['penny']);
      expect(receiver.health!().counters.unauthorized).toBe(0);
    } finally {
      await engine.stop();
      await receiver.close?.();
    }
  }, 60_000);
});
