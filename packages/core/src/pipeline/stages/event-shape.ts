import type { EventLevel, ObservedEvent } from '../../contracts/observed-event.js';
import { toIso } from '../../util/clock.js';
import { redactSecrets } from '../../util/redact.js';

/**
 * Severity order of an event level (`unknown` ranks with `info`); -1 for a string that is not one
 * of the six levels. A switch, not a lookup in an object: `constructor` or `__proto__` from a
 * crafted line must not find Object.prototype's members, and on the hot path a keyed lookup with
 * many distinct names goes megamorphic.
 */
export function levelRank(level: string): number {
  switch (level) {
    case 'debug':
      return 0;
    case 'unknown':
    case 'info':
      return 1;
    case 'warn':
      return 2;
    case 'error':
      return 3;
    case 'critical':
      return 4;
    default:
      return -1;
  }
}

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
    typeof id === 'string' &&
    id.length > 0 &&
    (kind === 'log' || kind === 'metric' || kind === 'alert') &&
    typeof time === 'number' &&
    Number.isFinite(time) &&
    typeof host === 'string' &&
    typeof service === 'string' &&
    typeof level === 'string' &&
    levelRank(level) >= 0 &&
    typeof message === 'string' &&
    typeof labels === 'object' &&
    labels !== null
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

/**
 * What an evidence line is made of, kept raw until an incident is opened: redacting every severe
 * line that no pattern explains was most of the hot path's cost, while only the few lines of an
 * incident that is really opened ever leave the process. `text` is cut exactly as the redacted
 * line would be, so rendering later gives the same line as rendering at once.
 */
export interface RawEvidence {
  readonly time: number;
  readonly host: string;
  readonly service: string;
  readonly level: EventLevel;
  readonly text: string;
}

/** Evidence for an event, not yet redacted: never let it leave the process before `evidenceLine`. */
export function rawEvidence(event: ObservedEvent): RawEvidence {
  const text = event.kind === 'metric' && event.metric ? `${event.metric.name} = ${event.metric.value}` : event.message;
  return { time: event.time, host: event.host, service: event.service, level: event.level, text: text.length > EVIDENCE_TEXT ? text.slice(0, EVIDENCE_TEXT) : text };
}

/** Characters of an event's text an evidence line is made from (before redaction and the final cut). */
const EVIDENCE_TEXT = 16_384;

/** One redacted, bounded line of evidence. */
export function evidenceLine(evidence: RawEvidence | ObservedEvent): string {
  const raw = 'text' in evidence ? evidence : rawEvidence(evidence);
  // Redact the whole line first: cutting first could leave part of a secret that the redactor no longer recognises.
  return redactSecrets(`${toIso(raw.time)} ${raw.host}/${raw.service} [${raw.level}] ${raw.text}`).slice(0, 1000);
}

/**
 * Appends an item, keeping at most EVIDENCE_LINES and at most `inWindow` (the events still in the
 * window: lines of events that slid out are dropped).
 */
export function pushEvidence<Item>(list: Item[], item: Item, inWindow: number): void {
  list.push(item);
  if (list.length > EVIDENCE_LINES) list.shift();
  if (list.length > inWindow) list.splice(0, list.length - inWindow);
}

/** The redacted lines of raw evidence, without repeats, the newest `EVIDENCE_LINES`. */
export function renderEvidence(items: readonly RawEvidence[]): string[] {
  return [...new Set(items.map((item) => evidenceLine(item)))].slice(-EVIDENCE_LINES);
}
