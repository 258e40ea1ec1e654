import type { EventLevel, ObservedEvent } from '../../contracts/observed-event.js';
import { toIso } from '../../util/clock.js';
import { redactSecrets } from '../../util/redact.js';

/** Severity order of event levels (`unknown` ranks with `info`). */
export const LEVEL_RANK: Record<EventLevel, number> = { debug: 0, unknown: 1, info: 1, warn: 2, error: 3, critical: 4 };

/** How many evidence lines an incident keeps (the newest). */
export const EVIDENCE_LINES = 20;

/**
 * A cheap structural check on the hot path (sources are plugins: a buggy one must not poison the
 * windows with `undefined` hosts or crash the loop). Reads each field once.
 */
export function isWellFormed(event: ObservedEvent): boolean {
  if (typeof event !== 'object' || event === null) return false;
  const { id, kind, time, host, service, level, message, labels } = event;
  return (
    typeof id === 'string' && id.length > 0 &&
    (kind === 'log' || kind === 'metric' || kind === 'alert') &&
    typeof time === 'number' && Number.isFinite(time) &&
    typeof host === 'string' && typeof service === 'string' &&
    typeof level === 'string' && level in LEVEL_RANK &&
    typeof message === 'string' &&
    typeof labels === 'object' && labels !== null
  );
}

/** The event's id for an error message, without trusting the event (a getter may throw). */
export function safeId(event: unknown): string {
  try {
    const id = (event as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? JSON.stringify(redactSecrets(id.slice(0, 80))) : '(no id)';
  } catch {
    return '(unreadable id)';
  }
}

/** One redacted, bounded line of evidence for an event. */
export function evidenceLine(event: ObservedEvent): string {
  const text = event.kind === 'metric' && event.metric ? `${event.metric.name} = ${event.metric.value}` : event.message;
  // Redact the whole line first: cutting first could leave part of a secret that the redactor no longer recognises.
  return redactSecrets(`${toIso(event.time)} ${event.host}/${event.service} [${event.level}] ${text.slice(0, 16_384)}`).slice(0, 1000);
}

/**
 * Appends a line, keeping at most EVIDENCE_LINES and at most `inWindow` (the events still in the
 * window: lines of events that slid out are dropped).
 */
export function pushEvidence(list: string[], line: string, inWindow: number): void {
  list.push(line);
  if (list.length > EVIDENCE_LINES) list.shift();
  if (list.length > inWindow) list.splice(0, list.length - inWindow);
}
