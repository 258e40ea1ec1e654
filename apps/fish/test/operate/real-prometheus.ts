import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The Debian prometheus / prometheus-alertmanager binaries on loopback, for the deploy tests. */
export const PROMETHEUS = process.env.FISH_PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const ALERTMANAGER = process.env.FISH_ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RealServer {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

async function run(binary: string, args: (dir: string, port: number) => string[], files: Record<string, string>): Promise<RealServer> {
  const dir = await mkdtemp(join(tmpdir(), 'fish-real-'));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  const port = await freePort();
  const child = spawn(binary, args(dir, port), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`${binary} exited with ${child.exitCode}:\n${log}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then((response) => response.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${binary} not ready in 30 s:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, output: () => log, stop };
}

/** Prometheus scraping `target` (host:port) every second as job "fish", with optional rules. */
export function startPrometheus(options: { target: string; rules?: string; alertmanager?: string }): Promise<RealServer> {
  const config = `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: fish
    static_configs:
      - targets: [${JSON.stringify(options.target)}]
${options.rules ? 'rule_files: [rules.yml]\n' : ''}${options.alertmanager ? `alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [${JSON.stringify(options.alertmanager.replace(/^http:\/\//, ''))}]\n` : ''}`;
  return run(
    PROMETHEUS,
    (dir, port) => [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--rules.alert.resend-delay=1s', '--log.level=warn'],
    { 'prometheus.yml': config, ...(options.rules ? { 'rules.yml': options.rules } : {}) },
  );
}

/** Alertmanager sending every alert to `webhookUrl` at once. */
export function startAlertmanager(options: { webhookUrl: string }): Promise<RealServer> {
  const config = `route:
  receiver: test
  group_by: ['alertname']
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: ${JSON.stringify(options.webhookUrl)}
        send_resolved: true
`;
  return run(
    ALERTMANAGER,
    (dir, port) => [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
    { 'alertmanager.yml': config },
  );
}

export async function query(prometheus: string, expression: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> {
  const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(expression)}`);
  return (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
}
