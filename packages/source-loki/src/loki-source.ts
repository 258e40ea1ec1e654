// The Loki source: its options schema and the factory (events, health, check, close) over the reader.
import { z } from 'zod';
import {
  BoundedQueue,
  DurationSchema,
  HttpAuthSchema,
  describeError,
  errorMessage,
  parseOptions,
  type Clock,
  type Logger,
  type ObservedEvent,
  type PluginStateStore,
  type Source,
  type SourceDelivery,
} from '@fish-sre/core';
import { LokiAcknowledgements, acknowledgeLoki, type CoveredLines } from './loki-acks.js';
import { queryRange } from './loki-http.js';
import { addsLineLabels } from './loki-labels.js';
import { createLokiPosition } from './loki-position.js';
import { runLokiReader } from './loki-reader.js';
import { SCOPE, createLokiRuntime } from './loki-runtime.js';

export { lokiEventId } from './loki-labels.js';
/** The level table every fish source shares; exported here as before. */
export { normaliseLevel } from '@fish-sre/core';

/** Options of the Loki source, as written in a config file. */
export const LokiSourceOptionsSchema = z
  .object({
    /** Base URL of Loki (or of the query-frontend), e.g. `http://loki:3100`. */
    url: z
      .string()
      .url()
      .refine((value) => /^https?:\/\//.test(value), 'must start with http:// or https://'),
    /** LogQL log query, e.g. `{host=~".+"} |~ "error|panic"`. */
    query: z.string().min(1),
    /** Tenant sent as `X-Scope-OrgID`; leave out for a Loki with `auth_enabled: false`. */
    tenant: z
      .string()
      .max(150)
      .regex(/^[A-Za-z0-9!\-_.*'()]+$/, 'a single tenant id: letters, digits and !-_.*\'() (tail refuses "A|B")')
      .optional(),
    /** Credentials for a reverse proxy in front of Loki. */
    auth: HttpAuthSchema.optional(),
    /** Tail backfill limit and `query_range` page size. @default 100 */
    limit: z.number().int().min(1).max(5000).default(100),
    /** Seconds Loki waits before sending a line, so slow ingesters catch up. Loki refuses more than 5. @default 0 */
    delayFor: z.number().int().min(0).max(5, "delay_for can't be greater than 5 (Loki refuses larger values)").default(0),
    /** Stream label names read, in order, for the event's host, service and level. */
    labels: z
      .object({
        host: z.array(z.string().min(1)).min(1).default(['host', 'hostname']),
        service: z.array(z.string().min(1)).min(1).default(['container', 'service_name', 'compose_service']),
        level: z.array(z.string().min(1)).min(1).default(['detected_level', 'level']),
      })
      .strict()
      .default({ host: ['host', 'hostname'], service: ['container', 'service_name', 'compose_service'], level: ['detected_level', 'level'] }),
    /**
     * Ask Loki (3.0+) to keep structured metadata and parsed labels apart from the stream labels
     * (`categorize-labels`): they become the event's `lineLabels`, which never choose the host or
     * service nor satisfy a pattern's `labels:` matcher. Required when the query parses lines
     * (`| json`, `| logfmt`, `| regexp`, `| pattern`, `| unpack`, `| label_format`). An older Loki
     * ignores the header. @default true
     */
    categorizeLabels: z.boolean().default(true),
    /** How far back the first connection reads (0: only lines from now on). @default 0 */
    lookback: DurationSchema.default(0),
    /**
     * How far before the last received line a reconnect starts reading again. Lines of other streams
     * that arrive out of timestamp order are then not lost; repeats are removed by dedup. @default 0
     */
    resumeOverlap: DurationSchema.default(0),
    /** The longest gap a reconnect back-fills; older lines are skipped and counted. @default 1h */
    maxBackfill: DurationSchema.default(3_600_000),
    reconnect: z
      .object({
        /** First retry delay; doubles per failed attempt, with jitter. @default 500ms */
        initialDelay: DurationSchema.default(500),
        /** @default 30s */
        maxDelay: DurationSchema.default(30_000),
        /** Delay after Loki refused the request itself (bad query, tenant, credentials). @default 60s */
        configErrorDelay: DurationSchema.default(60_000),
      })
      .strict()
      .default({ initialDelay: 500, maxDelay: 30_000, configErrorDelay: 60_000 }),
    /** Fetch the lines Loki reports as `dropped_entries` again with query_range. @default true */
    recoverDropped: z.boolean().default(true),
    /** Events held while the consumer is busy; when full, reading from Loki pauses. @default 1000 */
    bufferSize: z.number().int().min(10).max(1_000_000).default(1000),
    /** Timeout of each HTTP request (query_range, ready) and of the WebSocket handshake. @default 30s */
    requestTimeout: DurationSchema.default(30_000),
    /**
     * Join continuation lines (indented lines, `Caused by:`, Go/Rust/Java stack traces, Redis's
     * configuration-error block) of one host and service into one event. `false` turns it off.
     */
    multiline: z
      .union([
        z.literal(false),
        z
          .object({
            /** Lines in one event. @default 200 */
            maxLines: z.number().int().positive().default(200),
            /** Characters in one event; the rest is cut (counted in `multiline_cut`). @default 16384 */
            maxLength: z.number().int().positive().default(16_384),
            /** A message is complete when its stream has been quiet this long. @default 1s */
            wait: DurationSchema.default(1000),
          })
          .strict(),
      ])
      .default({ maxLines: 200, maxLength: 16_384, wait: 1000 }),
  })
  .strict()
  .refine((config) => config.categorizeLabels !== false || !addsLineLabels(config.query), {
    path: ['categorizeLabels'],
    message:
      'the query takes labels out of the lines (| json, | logfmt, | regexp, | pattern, | unpack or | label_format): categorizeLabels must stay true (Loki 3.0+), else Loki merges them into the stream labels and a line could choose the host, the service or a scoping label',
  });

export type LokiSourceConfig = z.input<typeof LokiSourceOptionsSchema>;

/** Options of `createLokiSource`: the config plus injectable I/O. */
export interface LokiSourceOptions extends LokiSourceConfig {
  /** Instance name (event.source). @default 'loki' */
  name?: string;
  fetch?: typeof globalThis.fetch;
  logger?: Logger;
  clock?: Clock;
  /** Random source for the reconnect jitter, in [0, 1). */
  random?: () => number;
  /**
   * Where the read position (last timestamp and the ids at it) is kept across restarts; a start
   * back-fills from it (bounded by `maxBackfill`). Absent: the first connection starts at `lookback`.
   */
  position?: PluginStateStore;
}

/** The config once parsed, defaults filled in. */
export type ParsedLokiConfig = z.output<typeof LokiSourceOptionsSchema>;

function parseConfig(options: LokiSourceOptions): ParsedLokiConfig {
  const { name: _name, fetch: _fetch, logger: _logger, clock: _clock, random: _random, position: _position, ...config } = options;
  return parseOptions(LokiSourceOptionsSchema, config, SCOPE);
}

/**
 * A Source that tails Loki over WebSocket and, on every (re)connect, back-fills the gap since the
 * last line with `query_range`, so that a disconnect loses no line and repeats none.
 */
export function createLokiSource(options: LokiSourceOptions): Source {
  const rt = createLokiRuntime(parseConfig(options), options);
  const { config, baseUrl, headers, logger, clean } = rt;
  const closing = new AbortController();
  // The lines each event handed on holds, until it is acknowledged.
  const covered: CoveredLines = new WeakMap();

  return {
    specificationVersion: 'v1',
    name: rt.name,
    async *events(signal: AbortSignal, delivery?: SourceDelivery): AsyncGenerator<ObservedEvent> {
      // Without acknowledgements an event counts as processed once the consumer asks for the next one.
      const acknowledged = delivery?.acknowledges === true;
      const session = new AbortController();
      const stop = () => session.abort();
      if (signal.aborted || closing.signal.aborted) return;
      signal.addEventListener('abort', stop, { once: true });
      closing.signal.addEventListener('abort', stop, { once: true });
      const hooks: { onDrained?: () => void } = {};
      const queue = new BoundedQueue<ObservedEvent>(config.bufferSize, () => hooks.onDrained?.());
      rt.status.state = 'reconnecting';
      rt.status.detail = 'connecting';
      const position = createLokiPosition(rt.position, `loki-position-${rt.name}`, logger);
      const acks = new LokiAcknowledgements(position, covered);
      const runner = runLokiReader(rt, session.signal, queue, hooks, position, acks).catch((error: unknown) => {
        const detail = `stopped after an unexpected error: ${clean(describeError(error))}`;
        rt.status.state = 'down';
        rt.status.detail = detail;
        logger.error(errorMessage(SCOPE, detail));
      });
      try {
        while (!session.signal.aborted) {
          await queue.waitForItem(session.signal);
          while (!session.signal.aborted) {
            const event = queue.shift();
            if (event === undefined) break;
            yield event;
            if (!acknowledged) void acknowledgeLoki(covered, event);
          }
        }
        // Stopped: the reader completes the messages being joined into the queue; what is queued
        // is handed on, so the consumer processes it once before it stops instead of it being read again.
        await runner;
        for (let event = queue.shift(); event !== undefined; event = queue.shift()) {
          yield event;
          if (!acknowledged) void acknowledgeLoki(covered, event);
        }
        await position.flush();
      } finally {
        signal.removeEventListener('abort', stop);
        closing.signal.removeEventListener('abort', stop);
        session.abort();
        await runner;
      }
    },
    acknowledge: (event: ObservedEvent) => acknowledgeLoki(covered, event),
    health: () => ({ state: rt.status.state, ...(rt.status.detail === undefined ? {} : { detail: rt.status.detail }), counters: { ...rt.counters } }),
    async check(signal?: AbortSignal) {
      const abort = signal ? AbortSignal.any([signal, AbortSignal.timeout(config.requestTimeout)]) : AbortSignal.timeout(config.requestTimeout);
      try {
        const ready = await rt.fetchImpl(`${baseUrl}/ready`, { headers, signal: abort });
        if (!ready.ok) {
          const body = clean((await ready.text().catch(() => '')).trim());
          return { ok: false, detail: `Loki at ${baseUrl} is not ready (GET /ready answered HTTP ${ready.status}: ${body || '(empty)'})` };
        }
        const end = rt.nowNs();
        await queryRange(rt, end - 300_000_000_000n, end, abort);
        return { ok: true, detail: `Loki at ${baseUrl} is ready and ran the query${config.tenant ? ` for tenant ${config.tenant}` : ''}` };
      } catch (error) {
        return { ok: false, detail: clean(describeError(error)).replace('[fish-sre] [loki] ', '') };
      }
    },
    async close() {
      closing.abort();
    },
  };
}
