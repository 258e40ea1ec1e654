import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode, ObservedEventSchema } from '@fish-sre/core';
import { testSource } from '@fish-sre/testkit';
import { createAlertmanagerReceiver, createAlertmanagerSource, type AlertmanagerSource } from './index.js';
import { AlertmanagerWebhookSchema, alertToEvent } from './alertmanager-webhook.js';

const TOKEN = 'receiver-token-0123456789';

/** The payload shape of protocols.md §2.4 (Alertmanager notify/webhook), with v0.32+/v0.34+ fields. */
function webhook(overrides: Record<string, unknown> = {}, alerts?: unknown[]) {
  return {
    version: '4',
    groupKey: '{}/{severity="page"}:{alertname="HostDown"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'team\\.a',
    groupLabels: { alertname: 'HostDown' },
    commonLabels: { alertname: 'HostDown', severity: 'page' },
    commonAnnotations: { summary: 'host is down' },
    externalURL: 'http://am:9093',
    notification_reason: 'first notification',
    routeLabels: {},
    futureField: { anything: true },
    alerts: alerts ?? [
      {
        status: 'firing',
        labels: { alertname: 'HostDown', severity: 'page', instance: 'penny:9100', job: 'node' },
        annotations: { description: 'penny does not answer' },
        startsAt: '2026-08-22T10:00:00.123456789Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prom/graph?g0.expr=up',
        fingerprint: 'a1b2c3d4e5f60718',
      },
    ],
    ...overrides,
  };
}

describe('Alertmanager webhook receiver (node:http handler)', () => {
  const receiver = createAlertmanagerReceiver({ bearerToken: TOKEN, bufferSize: 3, maxBodyBytes: 4096 });
  let server: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    server = await receiver.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server.close();
  });
  const post = (body: unknown, token: string | null = TOKEN, raw?: string) =>
    fetch(`${server.url}/alertmanager`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'Alertmanager/0.28.1', ...(token === null ? {} : { Authorization: `Bearer ${token}` }) },
      body: raw ?? JSON.stringify(body),
    });
  const drain = async () => {
    const controller = new AbortController();
    const events = [];
    const iterator = receiver.events(controller.signal);
    setTimeout(() => controller.abort(), 50);
    for await (const event of iterator) events.push(event);
    return events;
  };

  it('refuses a missing or wrong token with 401', async () => {
    expect((await post(webhook(), null)).status).toBe(401);
    const wrong = await post(webhook(), 'receiver-token-0123456780');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    expect(receiver.health().counters.unauthorized).toBe(2);
    expect(await drain()).toEqual([]);
  });

  it('accepts a lenient v4 payload and maps each alert to an event with a stable id', async () => {
    // startsAt is long past (as when Alertmanager re-sends after an outage of fish): the event is
    // dated when it was received, so it is not dropped as stale evidence.
    const received = Date.now();
    const response = await post(webhook());
    expect(response.status).toBe(200);
    expect(await post(webhook())).toHaveProperty('status', 200); // Alertmanager re-delivery
    const events = await drain();
    expect(events).toHaveLength(2);
    expect(events[0]!.id).toBe(events[1]!.id);
    expect(events[0]).toMatchObject({
      kind: 'alert',
      source: 'alertmanager',
      alertStatus: 'firing',
      host: 'penny',
      service: 'node',
      level: 'critical',
      message: '[FIRING] HostDown: host is down - penny does not answer',
      labels: { alertname: 'HostDown', instance: 'penny:9100' },
    });
    expect(events[0]!.time).toBeGreaterThanOrEqual(received);
    expect(events[0]!.time).toBeLessThanOrEqual(Date.now());
    expect(ObservedEventSchema.safeParse(events[0]).success).toBe(true);
    // Same alert resolved: a different id.
    await post(webhook({ status: 'resolved' }, [{ ...(webhook().alerts[0] as object), status: 'resolved', endsAt: '2026-08-22T10:05:00Z' }]));
    const [resolved] = await drain();
    expect(resolved).toMatchObject({ alertStatus: 'resolved', time: Date.parse('2026-08-22T10:05:00Z') });
    expect(resolved!.id).not.toBe(events[0]!.id);
  });

  it('accepts payloads of older Alertmanagers (no notification_reason, no routeLabels)', async () => {
    const old = webhook() as Record<string, unknown>;
    delete old.notification_reason;
    delete old.routeLabels;
    expect((await post(old)).status).toBe(200);
    expect(await drain()).toHaveLength(1);
  });

  it('maps severities to levels, and a severity named like an Object.prototype member to unknown', () => {
    const levelOf = (severity: string) => {
      const payload = AlertmanagerWebhookSchema.parse(webhook());
      const alert = { ...payload.alerts[0]!, labels: { ...payload.alerts[0]!.labels, severity } };
      const event = alertToEvent(payload, alert, 'alertmanager', Date.UTC(2026, 7, 22));
      expect(ObservedEventSchema.safeParse(event).success).toBe(true);
      return event.level;
    };
    expect(['page', 'Critical', 'warning', 'constructor', '__proto__', 'toString'].map(levelOf)).toEqual(['critical', 'critical', 'warn', 'unknown', 'unknown', 'unknown']);
  });

  it('answers 400 naming the field of a malformed payload', async () => {
    const bad = await post(webhook({}, [{ status: 'burning', labels: {}, startsAt: 'x' }]));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^invalid Alertmanager webhook: alerts\[0\]\.status: /);
    const noVersion = await post({ ...webhook(), version: '3' });
    expect(((await noVersion.json()) as { error: string }).error).toContain('version: expected "4"');
    const notJson = await post(undefined, TOKEN, '{"version":');
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toMatch(/body is not JSON/);
  });

  it('answers 413 for an oversized body and 405 for GET', async () => {
    const big = webhook({ commonAnnotations: { summary: 'x'.repeat(5000) } });
    expect((await post(big)).status).toBe(413);
    expect((await fetch(`${server.url}/`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(405);
  });

  it('answers 503 when the buffer is full, so Alertmanager retries, and accepts again once drained', async () => {
    const alert = webhook().alerts[0] as Record<string, unknown>;
    const four = [1, 2, 3, 4].map((index) => ({ ...alert, fingerprint: `000000000000000${index}` }));
    const full = await post(webhook({}, four));
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('5');
    expect((await post(webhook({}, four.slice(0, 3)))).status).toBe(200);
    expect((await post(webhook({}, four.slice(3)))).status).toBe(503);
    expect(await drain()).toHaveLength(3);
    expect((await post(webhook({}, four.slice(3)))).status).toBe(200);
    expect(await drain()).toHaveLength(1);
    expect(receiver.health().counters.rejected_buffer_full).toBe(2);
  });

  it('fails closed without a token', () => {
    try {
      createAlertmanagerReceiver({ bearerToken: '' });
      expect.unreachable();
    } catch (error) {
      expect(FishError.hasCode(error, FishErrorCode.PLUGIN_OPTIONS_INVALID)).toBe(true);
      expect((error as Error).message).toContain('bearerToken: use a random token of at least 16 characters');
    }
  });
});

let run = 0;
testSource({
  name: 'alertmanager receiver',
  createSource: () => createAlertmanagerSource({ bearerToken: TOKEN, listen: { host: '127.0.0.1', port: 0 } }),
  produce: async ({ source, count }) => {
    const { url } = await (source as AlertmanagerSource).start();
    const markers = Array.from({ length: count }, (_, index) => `r${run}a${index}z`);
    run++;
    const alert = webhook().alerts[0] as Record<string, unknown>;
    // Alertmanager sends groups; send them in two notifications.
    for (const group of [markers.slice(0, count / 2), markers.slice(count / 2)]) {
      const response = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(
          webhook(
            {},
            group.map((marker, index) => ({ ...alert, labels: { alertname: 'Conformance', marker }, fingerprint: `${marker}${index}` })),
          ),
        ),
      });
      expect(response.status).toBe(200);
    }
    return markers;
  },
  matches: (event, marker) => event.labels.marker === marker,
});

describe('Alertmanager source when its address is taken', () => {
  it('does not throw from events(): it reports the error in health and keeps trying', async () => {
    const first = createAlertmanagerSource({ bearerToken: TOKEN, listen: { host: '127.0.0.1', port: 0 } });
    const { port } = await first.start();
    const second = createAlertmanagerSource({ bearerToken: TOKEN, listen: { host: '127.0.0.1', port } });
    const controller = new AbortController();
    const iterating = (async () => {
      for await (const _event of second.events(controller.signal)) void _event;
    })();
    const deadline = Date.now() + 5000;
    while (!second.health!().detail?.includes('EADDRINUSE') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(second.health!()).toMatchObject({ state: 'down' });
    expect(second.health!().detail).toMatch(/^cannot listen for Alertmanager webhooks: .*EADDRINUSE.*; retrying in 5 s$/);
    controller.abort();
    await iterating;
    await second.close();
    await first.close();
  });
});
