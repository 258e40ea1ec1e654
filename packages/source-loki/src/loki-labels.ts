// Loki stream labels: entries from streams, the level and host/service labels, and stable event ids.
import { hash } from 'node:crypto';
import { z } from 'zod';
import type { EventLevel, ObservedEvent } from '@fish-sre/core';
import type { LokiRuntime } from './loki-runtime.js';

/** One log line as Loki returned it. */
export interface Entry {
  ts: bigint;
  line: string;
  /** Stream labels plus, with categorize-labels, structured metadata and parsed labels. */
  labels: Record<string, string>;
  /** The stream labels alone: set by the shipper, never by the line; host and service come from these only. */
  stream: Record<string, string>;
}

export const TimestampString = z.string().regex(/^\d{1,25}$/);
const ValueTuple = z.tuple([TimestampString, z.string()]).rest(z.unknown());
export const StreamSchema = z.object({ stream: z.record(z.string(), z.string()).default({}), values: z.array(ValueTuple) });

const LEVELS: Record<string, EventLevel> = {
  trace: 'debug',
  debug: 'debug',
  dbg: 'debug',
  info: 'info',
  information: 'info',
  informational: 'info',
  notice: 'info',
  inf: 'info',
  warn: 'warn',
  warning: 'warn',
  wrn: 'warn',
  err: 'error',
  error: 'error',
  eror: 'error',
  erro: 'error',
  crit: 'critical',
  critical: 'critical',
  fatal: 'critical',
  panic: 'critical',
  emerg: 'critical',
  emergency: 'critical',
  alert: 'critical',
};

/** Maps the many ways logs spell a level (`err`, `WARNING`, `crit`, `panic` ...) to the six fish levels. */
export function normaliseLevel(value: string | undefined): EventLevel {
  if (value === undefined) return 'unknown';
  return LEVELS[value.trim().toLowerCase()] ?? 'unknown';
}

/** Stable event id: the same line of the same stream and tenant always gets the same id. */
export function lokiEventId(tenant: string, labels: Record<string, string>, ts: string, line: string): string {
  const canonical = JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((key) => [key, labels[key]]),
  );
  return `loki:${hash('sha256', `${tenant}\u0000${canonical}\u0000${ts}\u0000${line}`, 'hex').slice(0, 40)}`;
}

const firstLabel = (labels: Record<string, string>, names: readonly string[]) => {
  for (const labelName of names) {
    const value = labels[labelName];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
};

export const toEvent = (rt: LokiRuntime, entry: Entry, id: string): ObservedEvent => ({
  id,
  kind: 'log',
  source: rt.name,
  time: Number(entry.ts / 1_000_000n),
  timeNs: entry.ts.toString(),
  // The fix target: a `host` parsed out of the line (or put in its metadata) never chooses it.
  host: firstLabel(entry.stream, rt.config.labels.host) ?? 'unknown',
  service: firstLabel(entry.stream, rt.config.labels.service) ?? 'unknown',
  level: normaliseLevel(firstLabel(entry.labels, rt.config.labels.level)),
  message: entry.line,
  labels: entry.labels,
});

/** Flattens streams into entries, merging categorize-labels extras (stream labels win). */
export const entriesOf = (streams: ReadonlyArray<z.output<typeof StreamSchema>>): Entry[] => {
  const entries: Entry[] = [];
  for (const stream of streams) {
    for (const value of stream.values) {
      let labels = stream.stream;
      const extra = value[2];
      if (extra && typeof extra === 'object') {
        const { structuredMetadata, parsed } = extra as { structuredMetadata?: unknown; parsed?: unknown };
        const merged: Record<string, string> = {};
        for (const group of [parsed, structuredMetadata]) {
          if (group && typeof group === 'object') for (const [key, item] of Object.entries(group)) if (typeof item === 'string') merged[key] = item;
        }
        labels = { ...merged, ...stream.stream };
      }
      entries.push({ ts: BigInt(value[0]), line: value[1], labels, stream: stream.stream });
    }
  }
  return entries;
};
