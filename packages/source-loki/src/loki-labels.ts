// Loki stream labels: entries from streams, the level and host/service labels, and stable event ids.
import { hash } from 'node:crypto';
import { z } from 'zod';
import { normaliseLevel, type ObservedEvent } from '@fish-sre/core';
import type { LokiRuntime } from './loki-runtime.js';

/** One log line as Loki returned it. */
export interface Entry {
  ts: bigint;
  line: string;
  /** Stream labels plus, with categorize-labels, structured metadata and parsed labels (the event id is made from these). */
  labels: Record<string, string>;
  /**
   * The stream labels alone: set by the shipper, never by the line. Host, service and the
   * labels a pattern's `labels:` matcher reads come from these only. Empty when Loki was asked to
   * categorize labels and did not (then nothing tells the stream's labels from the line's).
   */
  stream: Record<string, string>;
  /** Labels derived from the line: structured metadata and parsed labels (`| json`, `| logfmt`...). */
  lineLabels: Record<string, string>;
}

export const TimestampString = z.string().regex(/^\d{1,25}$/);
const ValueTuple = z.tuple([TimestampString, z.string()]).rest(z.unknown());
export const StreamSchema = z.object({ stream: z.record(z.string(), z.string()).default({}), values: z.array(ValueTuple) });

/** Stable event id: the same line of the same stream and tenant always gets the same id. */
export function lokiEventId(tenant: string, labels: Record<string, string>, ts: string, line: string): string {
  return `loki:${hash('sha256', `${tenant}\u0000${canonicalLabels(labels)}\u0000${ts}\u0000${line}`, 'hex').slice(0, 40)}`;
}

/** The labels in key order, as JSON; made once per labels object (every line of a stream shares its stream's). */
const canonical = new WeakMap<Record<string, string>, string>();
function canonicalLabels(labels: Record<string, string>): string {
  let text = canonical.get(labels);
  if (text === undefined) {
    text = JSON.stringify(
      Object.keys(labels)
        .sort()
        .map((key) => [key, labels[key]]),
    );
    canonical.set(labels, text);
  }
  return text;
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
  // The fix target and every scoping label: a `host` parsed out of the line (or put in its
  // metadata) never chooses the host, nor satisfies a pattern's `labels:` matcher.
  host: firstLabel(entry.stream, rt.config.labels.host) ?? 'unknown',
  service: firstLabel(entry.stream, rt.config.labels.service) ?? 'unknown',
  // The level is often only known from the line (Loki's detected_level): read from both.
  level: normaliseLevel(firstLabel(entry.stream, rt.config.labels.level) ?? firstLabel(entry.lineLabels, rt.config.labels.level)),
  message: entry.line,
  labels: entry.stream,
  ...(Object.keys(entry.lineLabels).length > 0 ? { lineLabels: entry.lineLabels } : {}),
});

/**
 * Flattens streams into entries. `categorized`: the response came with the `categorize-labels`
 * encoding flag, so `stream` holds the stream's own labels and each value's third element the
 * structured metadata and parsed labels. `requested`: fish asked for it; a Loki that ignored the
 * header (before 3.0) merges the line's labels into `stream`: when the query parses lines
 * (`parsesLines`), none of them is taken as a stream label then.
 */
export const entriesOf = (streams: ReadonlyArray<z.output<typeof StreamSchema>>, categorized: boolean, requested: boolean, parsesLines = false): Entry[] => {
  const entries: Entry[] = [];
  for (const stream of streams) {
    for (const value of stream.values) {
      let labels = stream.stream;
      let lineLabels: Record<string, string> = {};
      const extra = value[2];
      if (categorized && extra && typeof extra === 'object') {
        const { structuredMetadata, parsed } = extra as { structuredMetadata?: unknown; parsed?: unknown };
        // As Loki merges them: parsed over structured metadata.
        for (const group of [structuredMetadata, parsed]) {
          if (group && typeof group === 'object') for (const [key, item] of Object.entries(group)) if (typeof item === 'string') lineLabels[key] = item;
        }
        labels = { ...lineLabels, ...stream.stream };
      }
      // Not categorized although asked: with a parser stage the stream holds parsed labels; without
      // one, only structured metadata can be mixed in (Loki 2.9), as before categorize-labels existed.
      const trusted = categorized || !requested || !parsesLines;
      if (!trusted) lineLabels = { ...stream.stream };
      entries.push({ ts: BigInt(value[0]), line: value[1], labels, stream: trusted ? stream.stream : {}, lineLabels });
    }
  }
  return entries;
};

/** LogQL stages that add labels taken out of the line (`pkg/logql/syntax`: parsers, `label_format`). */
const LINE_LABEL_STAGE = /\|\s*(json|logfmt|regexp|pattern|unpack|label_format)\b/;

/** True when a query adds labels parsed out of lines: Loki merges them into the stream labels unless asked to categorize. */
export const addsLineLabels = (query: string): boolean => LINE_LABEL_STAGE.test(query);

/** Counts (and says once) a response Loki did not categorize although it was asked to (Loki before 3.0). */
export const noteUncategorized = (rt: LokiRuntime, categorized: boolean): void => {
  if (categorized || !rt.config.categorizeLabels) return;
  if (rt.counters.uncategorized_responses === 0) {
    rt.logger.warn(
      addsLineLabels(rt.config.query)
        ? 'Loki ignored categorize-labels (it needs Loki 3.0 or later): its stream labels mix in the labels this query parses out of the lines, so no label of its answers chooses a host or service or satisfies a pattern label matcher'
        : 'Loki ignored categorize-labels (it needs Loki 3.0 or later): structured metadata, if any, is mixed into the stream labels',
    );
  }
  rt.counters.uncategorized_responses = (rt.counters.uncategorized_responses ?? 0) + 1;
};
