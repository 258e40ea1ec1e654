// The Alertmanager webhook payload (version 4) and how one of its alerts becomes an event.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { EventLevel, ObservedEvent } from '@fish-sre/core';

const StringMap = z.record(z.string(), z.string());

/** Alertmanager webhook payload, version 4, parsed leniently: unknown fields are allowed. */
export const AlertmanagerWebhookSchema = z.looseObject({
  version: z.literal('4', 'expected "4" (Alertmanager webhook payload version)'),
  groupKey: z.string().min(1),
  truncatedAlerts: z.number().int().min(0).optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: StringMap.default({}),
  commonLabels: StringMap.default({}),
  commonAnnotations: StringMap.default({}),
  externalURL: z.string().optional(),
  /** Since Alertmanager v0.32.0. */
  notification_reason: z.string().optional(),
  /** Since Alertmanager v0.34.0. */
  routeLabels: StringMap.optional(),
  alerts: z.array(
    z.looseObject({
      status: z.enum(['firing', 'resolved']),
      labels: StringMap,
      annotations: StringMap.default({}),
      startsAt: z.string().min(1),
      endsAt: z.string().optional(),
      generatorURL: z.string().optional(),
      fingerprint: z.string().optional(),
    }),
  ),
});
export type AlertmanagerWebhook = z.output<typeof AlertmanagerWebhookSchema>;

/** A Map, not an object: a severity spelled `constructor` or `__proto__` must not find Object.prototype's members. */
const SEVERITY = new Map<string, EventLevel>(
  Object.entries({
    critical: 'critical',
    page: 'critical',
    fatal: 'critical',
    error: 'error',
    err: 'error',
    high: 'error',
    warning: 'warn',
    warn: 'warn',
    medium: 'warn',
    info: 'info',
    low: 'info',
    none: 'info',
    debug: 'debug',
  } satisfies Record<string, EventLevel>),
);

/** Go RFC3339 with up to 9 fractional digits; the zero time `0001-01-01T00:00:00Z` means "unset". */
function parseGoTime(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const trimmed = value.replace(/(\.\d{3})\d+/, '$1');
  const milliseconds = Date.parse(trimmed);
  if (Number.isNaN(milliseconds) || milliseconds <= 0) return undefined;
  return milliseconds;
}

/** Turns one alert of a webhook into an event whose id is the same on every re-delivery. */
export function alertToEvent(webhook: AlertmanagerWebhook, alert: AlertmanagerWebhook['alerts'][number], source: string, now: number): ObservedEvent {
  const fingerprint =
    alert.fingerprint ??
    createHash('sha256')
      .update(JSON.stringify(Object.entries(alert.labels).sort()))
      .digest('hex')
      .slice(0, 16);
  const id = `am:${createHash('sha256').update(`${webhook.groupKey}\u0000${fingerprint}\u0000${alert.status}\u0000${alert.startsAt}`).digest('hex').slice(0, 40)}`;
  const labels = alert.labels;
  const alertname = labels.alertname ?? 'unnamed alert';
  const summary = alert.annotations.summary ?? webhook.commonAnnotations.summary;
  const description = alert.annotations.description ?? webhook.commonAnnotations.description;
  const text = [summary, description].filter((part) => part !== undefined && part !== '').join(' - ');
  const instance = labels.instance?.replace(/:\d+$/, '');
  // A firing alert is evidence of a problem *now*, when Alertmanager delivers it: its startsAt
  // (kept in the event id) may be hours old when Alertmanager re-sends it after an outage of fish,
  // and would make it stale. A resolved one is dated by its end.
  const time = alert.status === 'resolved' ? (parseGoTime(alert.endsAt) ?? now) : now;
  return {
    id,
    kind: 'alert',
    source,
    time,
    host: labels.host || labels.hostname || instance || 'unknown',
    service: labels.service || labels.job || labels.container || 'unknown',
    level: SEVERITY.get((labels.severity ?? '').toLowerCase()) ?? 'unknown',
    message: `[${alert.status.toUpperCase()}] ${alertname}${text ? `: ${text}` : ''}`,
    labels,
    alertStatus: alert.status,
  };
}
