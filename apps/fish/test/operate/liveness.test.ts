import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryAuditStore, type AuditStore, type Source } from '@fish-sre/core';
import { createHeartbeat } from '../../src/operate/heartbeat.js';
import { createLoopHealth } from '../../src/operate/loop-health.js';
import { createSystemdNotify } from '../../src/operate/systemd-notify.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A push monitor (healthchecks.io style): records every ping. */
async function startMonitor() {
  const pings: Array<{ method: string; path: string; body: string }> = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      pings.push({ method: request.method ?? '', path: request.url ?? '', body });
      response.end('OK');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url, pings };
}

function healthOf(options: { running?: () => boolean; audit?: AuditStore; sources?: Source[] } = {}) {
  const health = createLoopHealth({ sources: options.sources ?? [], audit: options.audit ?? createMemoryAuditStore(), running: options.running ?? (() => true) });
  cleanups.push(() => health.close());
  return health;
}

async function until(predicate: () => boolean, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('loop health', () => {
  it('is healthy when the loop runs, the audit store answers and a source is up', async () => {
    expect(await healthOf().check()).toMatchObject({ healthy: true, reasons: [] });
  });

  it('names each reason it is not', async () => {
    const audit = createMemoryAuditStore();
    audit.listIncidents = () => Promise.reject(new Error('database is locked'));
    const down: Source = { specificationVersion: 'v1', name: 'loki', events: async function* () {}, health: () => ({ state: 'down', counters: {} }) };
    const report = await healthOf({ running: () => false, audit, sources: [down] }).check();
    expect(report.healthy).toBe(false);
    expect(report.reasons).toEqual(['the loop is not running', 'the audit store does not answer: database is locked', 'every source is down']);
  });
});

describe("heartbeat (dead-man's switch)", () => {
  it('pings the push URL every interval while healthy, and stops when the loop is not', async () => {
    const monitor = await startMonitor();
    let running = true;
    const heartbeat = createHeartbeat({ url: `${monitor.url}/ping/abc`, intervalMs: 50, health: healthOf({ running: () => running }) });
    heartbeat.start();
    cleanups.push(() => heartbeat.stop());
    await until(() => monitor.pings.length >= 3, 'three pings');
    expect(monitor.pings[0]).toEqual({ method: 'GET', path: '/ping/abc', body: '' });
    expect(heartbeat.state().lastSuccessAt).toBeGreaterThan(0);
    running = false;
    await new Promise((resolve) => setTimeout(resolve, 120));
    const count = monitor.pings.length;
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(monitor.pings.length).toBe(count);
    expect(heartbeat.state().lastError).toMatch(/not pinged: the loop is not running/);
  });

  it('POSTs the state, and calls the fail URL while unhealthy when one is set', async () => {
    const monitor = await startMonitor();
    let running = true;
    const heartbeat = createHeartbeat({ url: `${monitor.url}/uuid`, failUrl: `${monitor.url}/uuid/fail`, method: 'POST', intervalMs: 1000, health: healthOf({ running: () => running }) });
    await heartbeat.beat();
    running = false;
    await heartbeat.beat();
    expect(monitor.pings).toEqual([
      { method: 'POST', path: '/uuid', body: 'fish loop healthy' },
      { method: 'POST', path: '/uuid/fail', body: 'fish loop unhealthy: the loop is not running' },
    ]);
  });

  it('a monitor that is down is logged and retried next interval, never thrown', async () => {
    const heartbeat = createHeartbeat({ url: 'http://127.0.0.1:9/ping', intervalMs: 1000, timeoutMs: 1000, health: healthOf() });
    await heartbeat.beat();
    expect(heartbeat.state().lastError).toBeDefined();
    expect(heartbeat.state().lastSuccessAt).toBeUndefined();
  });
});

describe('systemd notify and watchdog (sd_notify datagrams)', () => {
  async function startNotifySocket() {
    const directory = await mkdtemp(join(tmpdir(), 'fish-notify-'));
    const path = join(directory, 'notify');
    const require = createRequire(import.meta.url);
    const unix = require('unix-dgram') as {
      createSocket(type: string, listener: (message: Buffer) => void): { bind(path: string): void; close(): void; on(event: string, listener: () => void): void };
    };
    const messages: string[] = [];
    const socket = unix.createSocket('unix_dgram', (message) => messages.push(message.toString('utf8')));
    await new Promise<void>((resolve) => {
      socket.on('listening', resolve);
      socket.bind(path);
    });
    cleanups.push(async () => {
      socket.close();
      await rm(directory, { recursive: true, force: true });
    });
    return { path, messages };
  }

  it('sends READY=1, then WATCHDOG=1 every half period only while healthy, then STOPPING=1', async () => {
    const socket = await startNotifySocket();
    let running = true;
    const notify = createSystemdNotify({ socketPath: socket.path, watchdogUsec: 200_000, health: healthOf({ running: () => running }) });
    await notify.ready('17 patterns, 1 source(s)');
    notify.startWatchdog();
    await until(() => socket.messages.filter((message) => message === 'WATCHDOG=1').length >= 3, 'three watchdog pings');
    expect(socket.messages[0]).toBe(`READY=1\nSTATUS=17 patterns, 1 source(s)\nMAINPID=${process.pid}`);
    running = false;
    await until(() => socket.messages.some((message) => message.startsWith('STATUS=unhealthy')), 'the unhealthy status');
    const pings = socket.messages.filter((message) => message === 'WATCHDOG=1').length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(socket.messages.filter((message) => message === 'WATCHDOG=1').length).toBe(pings);
    await notify.stopping();
    await notify.close();
    await until(() => socket.messages.includes('STOPPING=1\nSTATUS=stopping'), 'STOPPING=1');
  });

  it('refuses an abstract-namespace socket with a clear message', () => {
    expect(() => createSystemdNotify({ socketPath: '@/org/freedesktop/systemd1/notify', health: healthOf() })).toThrow(/abstract namespace/);
  });
});

describe('fish.service', () => {
  it('is Type=notify with a watchdog, and lets the main process send notifications over AF_UNIX', async () => {
    const { readFile } = await import('node:fs/promises');
    const unit = await readFile(join(import.meta.dirname, '../../deploy/fish.service'), 'utf8');
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^NotifyAccess=main$/m);
    expect(unit).toMatch(/^WatchdogSec=\d+s$/m);
    expect(unit).toMatch(/^RestrictAddressFamilies=.*AF_UNIX/m);
  });
});
