import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './plugin.js';

/**
 * The real Prometheus and Alertmanager (Debian's `prometheus` and `prometheus-alertmanager`) on
 * loopback, each in its own temporary folder, for tests that must see what the real servers do
 * with a rule, a scrape or a webhook. `FISH_PROMETHEUS_BIN` / `FISH_ALERTMANAGER_BIN` name other
 * binaries.
 */
export const PROMETHEUS_BINARY = process.env.FISH_PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const ALERTMANAGER_BINARY = process.env.FISH_ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';
/** True when both binaries are installed (CI installs them; see `.ci/run`). */
export const haveRealPrometheus = existsSync(PROMETHEUS_BINARY) && existsSync(ALERTMANAGER_BINARY);

/** A server process started by this module. */
export interface RealProcess {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Its temporary folder (config files, storage); removed by `stop`. */
  dir: string;
  /** The last 20 000 characters it printed (stdout and stderr), for failure messages. */
  output: () => string;
  /** TERM, KILL after 5 s, then removes `dir`. */
  stop: () => Promise<void>;
}

interface ProcessSpec {
  binary: string;
  /** Arguments, given the folder and the port it listens on. */
  args: (dir: string, port: number) => string[];
  /** Files written into the folder before the start. */
  files: Record<string, string>;
  prefix: string;
}

/** Starts `spec.binary` on a free loopback port and waits (30 s at most) until `/-/ready` answers 200. */
async function startProcess(spec: ProcessSpec): Promise<RealProcess> {
  const dir = await mkdtemp(join(tmpdir(), spec.prefix));
  for (const [name, content] of Object.entries(spec.files)) await writeFile(join(dir, name), content);
  const port = await freePort();
  const child = spawn(spec.binary, spec.args(dir, port), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-20_000);
  };
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
      throw new Error(`${spec.binary} exited with ${child.exitCode}:\n${log}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return { url, dir, output: () => log, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${spec.binary} not ready within 30 s (${url}):\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What Prometheus scrapes and evaluates. */
export interface RealPrometheusOptions {
  /** `host:port` of the /metrics endpoint, scraped every second. */
  target: string;
  /** The scrape job's name (the `job` label). @default 'fish' */
  job?: string;
  /** A rule file (YAML), evaluated every second. */
  rules?: string;
  /** Alertmanager URL to send firing alerts to (resent every second). */
  alertmanager?: string;
}

/** The real Prometheus scraping `target` every second. */
export function startRealPrometheus(options: RealPrometheusOptions): Promise<RealProcess> {
  const alerting = options.alertmanager ? `alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [${JSON.stringify(options.alertmanager.replace(/^https?:\/\//, ''))}]\n` : '';
  const config = `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ${JSON.stringify(options.job ?? 'fish')}
    static_configs:
      - targets: [${JSON.stringify(options.target)}]
${options.rules ? 'rule_files: [rules.yml]\n' : ''}${alerting}`;
  return startProcess({
    binary: PROMETHEUS_BINARY,
    prefix: 'fish-prom-',
    files: { 'prometheus.yml': config, ...(options.rules ? { 'rules.yml': options.rules } : {}) },
    args: (dir, port) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--rules.alert.resend-delay=1s',
      '--log.level=warn',
    ],
  });
}

/** Where Alertmanager sends alerts. */
export interface RealAlertmanagerOptions {
  /** The webhook receiver's URL; every alert goes there 200 ms after it fires, resolved ones too. */
  webhookUrl: string;
  /** Sent as `Authorization: Bearer …` with each webhook call. */
  bearerToken?: string;
}

/** The real Alertmanager (no cluster) sending every alert to one webhook. */
export function startRealAlertmanager(options: RealAlertmanagerOptions): Promise<RealProcess> {
  const authorization = options.bearerToken ? `        http_config:\n          authorization:\n            type: Bearer\n            credentials: ${JSON.stringify(options.bearerToken)}\n` : '';
  const config = `route:
  receiver: fish
  group_by: ['alertname']
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: fish
    webhook_configs:
      - url: ${JSON.stringify(options.webhookUrl)}
        send_resolved: true
${authorization}`;
  return startProcess({
    binary: ALERTMANAGER_BINARY,
    prefix: 'fish-am-',
    files: { 'alertmanager.yml': config },
    args: (dir, port) => [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
  });
}

/** An instant query against Prometheus's HTTP API, answered as Prometheus sends it. */
export async function queryPrometheus(prometheusUrl: string, expression: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expression)}`);
  return (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
}

/** A /metrics endpoint in the Prometheus text format whose `fish_test_value` series the test sets. */
export async function startMetricsTarget() {
  const series = new Map<string, string>();
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404);
      response.end();
      return;
    }
    const lines = ['# HELP fish_test_value A value the test sets.', '# TYPE fish_test_value gauge'];
    for (const [key, value] of series) lines.push(`${key} ${value}`);
    response.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    response.end(`${lines.join('\n')}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    /** `127.0.0.1:<port>`, for `RealPrometheusOptions.target`. */
    address: `127.0.0.1:${port}`,
    /** `set('fish_test_value{disk="sda"}', '80')`; the value is written as is (NaN, +Inf ...). */
    set: (key: string, value: string) => series.set(key, value),
    remove: (key: string) => series.delete(key),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
