import { readFileSync } from 'node:fs';
import { ObservedEventSchema, type ObservedEvent, type Pattern } from '@fish-sre/core';
import { Matcher } from '@fish-sre/core/internal';

/** A sample log line as stored in samples/*.jsonl. */
export interface SampleLine {
  time: string;
  host: string;
  service: string;
  level: string;
  message: string;
}

export function readSampleLines(file: string): SampleLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as SampleLine);
}

export function toObservedEvent(line: SampleLine, index: number): ObservedEvent {
  return ObservedEventSchema.parse({ id: `replay-${index}`, source: 'replay', time: Date.parse(line.time), host: line.host, service: line.service, level: line.level, message: line.message });
}

/**
 * Replays events through the core matcher with the engine's trigger rule: a pattern fires for a
 * (pattern, host, service) key when `trigger.count` matching events fall inside `trigger.window`;
 * its confidence is the share of required signals seen in that window. Returns, per fired key
 * `pattern@host/service`, the best confidence reached.
 */
export function replay(patterns: readonly Pattern[], events: readonly ObservedEvent[]): Map<string, number> {
  const matcher = new Matcher({ patterns });
  const hits = new Map<string, Array<{ time: number; signalIds: string[] }>>();
  const fired = new Map<string, number>();
  for (const event of events) {
    for (const hit of matcher.match(event)) {
      const key = `${hit.pattern.id}@${event.host}/${event.service}`;
      const window = hit.pattern.trigger.window;
      const recent = [...(hits.get(key) ?? []), { time: event.time, signalIds: hit.signalIds }].filter((entry) => entry.time > event.time - window);
      hits.set(key, recent);
      if (recent.length >= hit.pattern.trigger.count) {
        const confidence = Matcher.confidence(
          hit.pattern,
          recent.flatMap((entry) => entry.signalIds),
        );
        if (confidence >= hit.pattern.min_confidence) fired.set(key, Math.max(confidence, fired.get(key) ?? 0));
      }
    }
  }
  return fired;
}
