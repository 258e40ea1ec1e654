// Line parsing of the file source: a JSON or text line to an event, levels and timestamps normalised.
import { z } from 'zod';
import { normaliseLevel, type ObservedEvent } from '../contracts/observed-event.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

const JsonLine = z
  .object({
    message: z.string().optional(),
    msg: z.string().optional(),
    line: z.string().optional(),
    time: z.union([z.string(), z.number()]).optional(),
    timestamp: z.union([z.string(), z.number()]).optional(),
    host: z.string().optional(),
    service: z.string().optional(),
    level: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .passthrough();

function parseTime(value: string | number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return value > 1e14 ? Math.floor(value / 1e6) : value > 1e11 ? value : value * 1000;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? fallback : parsed;
}

/** Turns one line (without its newline) into an event, or counts it in `invalid` and returns undefined. */
export function createLineParser(setup: {
  name: string;
  options: { format: 'jsonl' | 'text'; path: string; defaultHost: string; defaultService: string };
  clock: Clock;
  logger: Logger;
  counters: { invalid: number };
}): (text: string, lineNumber: number, id: string) => ObservedEvent | undefined {
  const { name, options, clock, logger, counters } = setup;
  return function toEvent(text: string, lineNumber: number, id: string): ObservedEvent | undefined {
    if (options.format === 'text') {
      return { id, kind: 'log', source: name, time: clock.now(), host: options.defaultHost, service: options.defaultService, level: 'unknown', message: text, labels: {} };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      counters.invalid++;
      logger.warn(`${name}: line ${lineNumber} of ${options.path} is not JSON; skipped`);
      return undefined;
    }
    const parsed = JsonLine.safeParse(raw);
    const message = parsed.success ? (parsed.data.message ?? parsed.data.msg ?? parsed.data.line) : undefined;
    if (!parsed.success || message === undefined) {
      counters.invalid++;
      logger.warn(`${name}: line ${lineNumber} of ${options.path} has no "message" string; skipped`);
      return undefined;
    }
    const line = parsed.data;
    return {
      id,
      kind: 'log',
      source: name,
      time: parseTime(line.time ?? line.timestamp, clock.now()),
      host: line.host ?? options.defaultHost,
      service: line.service ?? options.defaultService,
      level: normaliseLevel(line.level),
      message,
      labels: line.labels ?? {},
    };
  };
}
