import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, queryPrometheus, startRealAlertmanager, startRealPrometheus } from '@fish-sre/testkit';

const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
const RULES = join(import.meta.dirname, '../../deploy/prometheus/fish-rules.yml');

interface AlertmanagerWebhook {
  status: string;
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }>;
}

async function until<T>(read: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 200));
  }
}

describe('"fish down" through real Prometheus and Alertmanager', () => {
  it('fires FishDown into the receiver after the fish process is killed', async () => {
    // The receiver Alertmanager posts to (webhook_config, JSON payload version 4).
    const received: AlertmanagerWebhook[] = [];
    const receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push(JSON.parse(body) as AlertmanagerWebhook);
        response.end();
      });
    });
    await new Promise<void>((resolveListen) => receiver.listen(0, '127.0.0.1', resolveListen));
    const metricsPort = await freePort();
    const dataDir = await mkdtemp(join(tmpdir(), 'fish-down-'));
    // A real fish process: the demo waits for a decision, serving /metrics meanwhile.
    const fish = spawn(process.execPath, [CLI, 'demo', '--port', '0', '--metrics-port', String(metricsPort), '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    fish.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    fish.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const alertmanager = await startRealAlertmanager({ webhookUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts` });
    // The shipped rules, with FishDown's `for: 2m` shortened so the test does not wait two minutes.
    const rules = (await readFile(RULES, 'utf8')).replace(/(alert: FishDown\n\s+expr: [^\n]+\n\s+for:) 2m/, '$1 2s');
    expect(rules).toMatch(/alert: FishDown\n\s+expr: [^\n]+\n\s+for: 2s/);
    const prometheus = await startRealPrometheus({ target: `127.0.0.1:${metricsPort}`, rules, alertmanager: alertmanager.url });
    try {
      await until(
        async () => {
          const up = await queryPrometheus(prometheus.url, 'up{job="fish"} == 1');
          return (up.data?.result.length ?? 0) > 0 ? true : undefined;
        },
        `fish to be scraped (fish output: ${output})`,
        30_000,
      );
      // Until the first scrape, `absent(up{job="fish"})` holds; once fish is scraped, FishDown is quiet.
      await until(
        async () => {
          const active = await queryPrometheus(prometheus.url, 'ALERTS{alertname="FishDown"}');
          return active.status === 'success' && active.data?.result.length === 0 ? true : undefined;
        },
        'FishDown to be quiet while fish runs',
        30_000,
      );
      await new Promise((resolveWait) => setTimeout(resolveWait, 3000));
      expect((await queryPrometheus(prometheus.url, 'ALERTS{alertname="FishDown"}')).data?.result).toEqual([]);
      const before = received.length;

      fish.kill('SIGKILL');
      const alert = await until(
        () =>
          received
            .slice(before)
            .flatMap((payload) => payload.alerts)
            .find((candidate) => candidate.labels.alertname === 'FishDown' && candidate.status === 'firing' && candidate.labels.instance !== undefined),
        'FishDown in the receiver',
        45_000,
      );
      expect(alert.labels).toMatchObject({ alertname: 'FishDown', severity: 'critical', job: 'fish', instance: `127.0.0.1:${metricsPort}` });
      expect(alert.annotations.summary).toBe('fish is down');
    } finally {
      fish.kill('SIGKILL');
      await prometheus.stop();
      await alertmanager.stop();
      await new Promise<void>((resolveClose) => receiver.close(() => resolveClose()));
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
