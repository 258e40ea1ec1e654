import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@fish-sre/testkit';

/** Test-only helpers that run the real Prometheus and Alertmanager from Debian on loopback. */

export const PROMETHEUS_BINARY = process.env.FISH_PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const ALERTMANAGER_BINARY = process.env.FISH_ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';
export const haveRealPrometheus = existsSync(PROMETHEUS_BINARY) && existsSync(ALERTMANAGER_BINARY);

/** A /metrics endpoint in the Prometheus text format whose series the test sets. */
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
    address: `127.0.0.1:${port}`,
    /** `set('fish_test_value{disk="sda"}', '80')`; the value is written as is (NaN, +Inf ...). */
    set: (key: string, value: string) => series.set(key, value),
    remove: (key: string) => series.delete(key),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface RealProcess {
  url: string;
  dir: string;
  output: () => string;
  stop: () => Promise<void>;
}

async function waitReady(url: string, child: ChildProcess, output: () => string, deadlineMs: number) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}:\n${output()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not ready within ${deadlineMs} ms (${url}):\n${output()}`);
}

async function run(binary: string, args: string[], readyPath: string, port: number, dir: string): Promise<RealProcess> {
  let log = '';
  const child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
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
  try {
    await waitReady(`${url}${readyPath}`, child, () => log, 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, dir, output: () => log, stop };
}

export async function startAlertmanager(options: { webhookUrl: string; bearerToken: string }): Promise<RealProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'fish-am-'));
  const port = await freePort();
  await writeFile(
    join(dir, 'alertmanager.yml'),
    `route:
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
        http_config:
          authorization:
            type: Bearer
            credentials: ${JSON.stringify(options.bearerToken)}
`,
  );
  return run(
    ALERTMANAGER_BINARY,
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    '/-/ready',
    port,
    dir,
  );
}

export async function startPrometheus(options: { target: string; alertmanager?: string; rules?: string }): Promise<RealProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'fish-prom-'));
  const port = await freePort();
  if (options.rules) await writeFile(join(dir, 'rules.yml'), options.rules);
  await writeFile(
    join(dir, 'prometheus.yml'),
    `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: fishtest
    static_configs:
      - targets: [${JSON.stringify(options.target)}]
${options.rules ? 'rule_files: [rules.yml]\n' : ''}${
      options.alertmanager
        ? `alerting:
  alertmanagers:
    - static_configs:
        - targets: [${JSON.stringify(options.alertmanager.replace(/^http:\/\//, ''))}]
`
        : ''
    }`,
  );
  return run(
    PROMETHEUS_BINARY,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--rules.alert.resend-delay=1s',
      '--log.level=warn',
    ],
    '/-/ready',
    port,
    dir,
  );
}
