import { createHash, hash } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { z } from 'zod';
import {
  DurationSchema,
  HttpAuthSchema,
  httpAuthorization,
  FishError,
  FishErrorCode,
  describeError,
  errorMessage,
  formatZodIssues,
  parseOptions,
  redactSecrets,
  silentLogger,
  systemClock,
  type Clock,
  type EventLevel,
  type Logger,
  type ObservedEvent,
  type Source,
  type SourceHealth,
  BoundedQueue,
  sleep,
  type PluginStateStore,
} from '@fish-sre/core';
import { LruDedup, createContinuationJoiner, type JoinedMessage } from '@fish-sre/core/internal';
import { createLokiPosition } from './loki-position.js';

const SCOPE = 'loki';

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
    /** Ask Loki for structured metadata and parsed labels (`categorize-labels`); they are merged into the labels. @default false */
    categorizeLabels: z.boolean().default(false),
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
  .strict();

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

interface Entry {
  ts: bigint;
  line: string;
  /** Stream labels plus, with categorize-labels, structured metadata and parsed labels. */
  labels: Record<string, string>;
  /** The stream labels alone: set by the shipper, never by the line; host and service come from these only. */
  stream: Record<string, string>;
}

const TimestampString = z.string().regex(/^\d{1,25}$/);
const ValueTuple = z.tuple([TimestampString, z.string()]).rest(z.unknown());
const StreamSchema = z.object({ stream: z.record(z.string(), z.string()).default({}), values: z.array(ValueTuple) });
const TailFrameSchema = z.object({
  streams: z.array(StreamSchema).nullish(),
  dropped_entries: z.array(z.object({ labels: z.record(z.string(), z.string()).nullish(), timestamp: TimestampString })).nullish(),
});
const QueryRangeSchema = z.object({
  status: z.literal('success'),
  data: z.object({ resultType: z.literal('streams'), result: z.array(StreamSchema) }),
});

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

type Outcome =
  | { kind: 'closed'; code: number; reason: string; opened: boolean; openedForMs: number; received: number }
  | { kind: 'rejected'; status: number; body: string }
  | { kind: 'failed'; error: unknown; opened: boolean }
  | { kind: 'aborted' };

function parseConfig(options: LokiSourceOptions) {
  const { name: _name, fetch: _fetch, logger: _logger, clock: _clock, random: _random, position: _position, ...config } = options;
  return parseOptions(LokiSourceOptionsSchema, config, SCOPE);
}

/**
 * A Source that tails Loki over WebSocket and, on every (re)connect, back-fills the gap since the
 * last line with `query_range`, so that a disconnect loses no line and repeats none.
 */
export function createLokiSource(options: LokiSourceOptions): Source {
  const config = parseConfig(options);
  const name = options.name ?? 'loki';
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const logger = (options.logger ?? silentLogger).child({ source: name });
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const baseUrl = config.url.replace(/\/+$/, '');
  const tenant = config.tenant ?? '';
  const closing = new AbortController();

  const counters: Record<string, number> = {
    events_emitted: 0,
    lines_received: 0,
    backfilled_lines: 0,
    duplicates_skipped: 0,
    dropped_entries: 0,
    reconnects: 0,
    connect_failures: 0,
    config_errors: 0,
    closes_max_duration: 0,
    closes_concurrency_limit: 0,
    closes_abnormal: 0,
    closes_other: 0,
    backfill_failures: 0,
    dropped_recovered: 0,
    dropped_recovery_failures: 0,
    backfill_truncated: 0,
    backfill_window_exceeded: 0,
    protocol_errors: 0,
    backpressure_pauses: 0,
    multiline_joined_lines: 0,
    multiline_cut: 0,
  };
  let state: SourceHealth['state'] = 'down';
  let detail: string | undefined = 'not started';

  const { headers, secrets } = httpAuthorization(config.auth);
  if (config.tenant) headers['X-Scope-OrgID'] = config.tenant;
  if (config.categorizeLabels) headers['X-Loki-Response-Encoding-Flags'] = 'categorize-labels';
  const clean = (text: string) => {
    let result = redactSecrets(text);
    for (const secret of secrets) result = result.split(secret).join('[REDACTED]');
    return result.length > 500 ? `${result.slice(0, 500)}...` : result;
  };

  const nowNs = () => BigInt(Math.floor(clock.now())) * 1_000_000n;

  const firstLabel = (labels: Record<string, string>, names: readonly string[]) => {
    for (const labelName of names) {
      const value = labels[labelName];
      if (value !== undefined && value !== '') return value;
    }
    return undefined;
  };

  const toEvent = (entry: Entry, id: string): ObservedEvent => ({
    id,
    kind: 'log',
    source: name,
    time: Number(entry.ts / 1_000_000n),
    timeNs: entry.ts.toString(),
    // The fix target: a `host` parsed out of the line (or put in its metadata) never chooses it.
    host: firstLabel(entry.stream, config.labels.host) ?? 'unknown',
    service: firstLabel(entry.stream, config.labels.service) ?? 'unknown',
    level: normaliseLevel(firstLabel(entry.labels, config.labels.level)),
    message: entry.line,
    labels: entry.labels,
  });

  /** Flattens streams into entries, merging categorize-labels extras (stream labels win). */
  const entriesOf = (streams: ReadonlyArray<z.output<typeof StreamSchema>>): Entry[] => {
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

  const httpError = async (response: Response, what: string): Promise<FishError> => {
    const body = clean((await response.text().catch(() => '')).trim());
    const status = response.status;
    const hint =
      status === 401 ? ' (Loki needs a tenant: set `tenant`, sent as X-Scope-OrgID, or check the credentials of the proxy)' : status === 400 ? ' (check the LogQL query and the limits)' : '';
    return new FishError({
      code: status >= 500 || status === 429 ? FishErrorCode.SOURCE_UNREACHABLE : FishErrorCode.SOURCE_PROTOCOL,
      message: errorMessage(SCOPE, `${what} at ${baseUrl} failed with HTTP ${status}: ${body || '(empty body)'}${hint}`),
      isRetryable: status >= 500 || status === 429,
      details: { status },
    });
  };

  const queryRange = async (start: bigint, end: bigint, signal: AbortSignal): Promise<Entry[]> => {
    const params = new URLSearchParams({
      query: config.query,
      start: start.toString(),
      end: end.toString(),
      limit: String(config.limit),
      direction: 'forward',
    });
    let response: Response;
    try {
      response = await fetchImpl(`${baseUrl}/loki/api/v1/query_range?${params}`, {
        headers,
        signal: AbortSignal.any([signal, AbortSignal.timeout(config.requestTimeout)]),
      });
    } catch (error) {
      throw new FishError({
        code: FishErrorCode.SOURCE_UNREACHABLE,
        message: errorMessage(SCOPE, `query_range at ${baseUrl} failed: ${clean(describeError(error))}`),
        cause: error,
        isRetryable: true,
      });
    }
    if (!response.ok) throw await httpError(response, 'query_range');
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new FishError({
        code: FishErrorCode.SOURCE_PROTOCOL,
        message: errorMessage(SCOPE, `query_range at ${baseUrl} answered something that is not JSON: ${clean(text.slice(0, 200))}`),
        isRetryable: true,
      });
    }
    const parsed = QueryRangeSchema.safeParse(json);
    if (!parsed.success) {
      throw new FishError({
        code: FishErrorCode.SOURCE_PROTOCOL,
        message: errorMessage(SCOPE, `query_range at ${baseUrl} answered an unexpected shape: ${formatZodIssues(parsed.error.issues)}`),
        isRetryable: true,
      });
    }
    const entries = entriesOf(parsed.data.data.result);
    // Streams come grouped; merge them into one timestamp order (stable for equal timestamps).
    entries.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
    return entries;
  };

  const backoff = (attempt: number) => {
    const ceiling = Math.min(config.reconnect.maxDelay, config.reconnect.initialDelay * 2 ** Math.min(attempt, 30));
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  };

  async function run(signal: AbortSignal, queue: BoundedQueue<ObservedEvent>, hooks: { onDrained?: () => void }): Promise<void> {
    // core's LRU: O(1) eviction, where a Set evicting with values().next() slows down as deleted entries pile up.
    const recent = new LruDedup(Math.max(10_000, config.limit * 4));
    let lastNs: bigint | undefined;
    const initialStart = nowNs() - BigInt(Math.floor(config.lookback)) * 1_000_000n;
    let attempt = 0;
    const position = createLokiPosition(options.position, `loki-position-${name}`, logger);
    const saved = await position.load();
    if (saved) {
      lastNs = saved.lastNs;
      for (const id of saved.ids) recent.admit(id);
      logger.info('resuming from the saved read position', { lastNs: saved.lastNs.toString() });
    }
    // Continuation lines are joined per host and service; completion is wall-clock idleness.
    const joiner = config.multiline === false ? undefined : createContinuationJoiner<{ entry: Entry; id: string }>({ ...config.multiline, now: () => performance.now() });

    const enqueue = (event: ObservedEvent) => {
      queue.push(event);
      counters.events_emitted!++;
    };
    const enqueueJoined = (messages: Array<JoinedMessage<{ entry: Entry; id: string }>>) => {
      for (const { meta, message } of messages) enqueue(toEvent(message === meta.entry.line ? meta.entry : { ...meta.entry, line: message }, meta.id));
      if (joiner) {
        const stats = joiner.stats();
        counters.multiline_joined_lines = stats.joinedLines;
        counters.multiline_cut = stats.cutMessages;
      }
    };
    const idleFlush =
      joiner && config.multiline !== false
        ? setInterval(() => enqueueJoined(joiner.flushIdle(performance.now() - (config.multiline as { wait: number }).wait)), Math.max(20, Math.min(500, config.multiline.wait / 2)))
        : undefined;
    idleFlush?.unref();

    /** Emits a line unless it was already emitted (same tenant, labels, ns timestamp and text). */
    const emit = (entry: Entry): boolean => {
      const ts = entry.ts.toString();
      const id = lokiEventId(tenant, entry.labels, ts, entry.line);
      if (!recent.admit(id)) {
        counters.duplicates_skipped!++;
        return false;
      }
      if (joiner) {
        const event = toEvent(entry, id);
        enqueueJoined(joiner.push(`${event.host}\0${event.service}`, entry.line, { entry, id }));
      } else enqueue(toEvent(entry, id));
      if (lastNs === undefined || entry.ts > lastNs) lastNs = entry.ts;
      position.note(entry.ts, id);
      return true;
    };

    /** Reads [from, end) forward page by page and emits what was not emitted yet; returns how many were new. */
    const pageForward = async (start: bigint, end: bigint): Promise<number> => {
      let from = start;
      let fresh = 0;
      for (let page = 0; page < 100_000 && !signal.aborted; page++) {
        await queue.waitForSpace(signal);
        if (signal.aborted) break;
        const entries = await queryRange(from, end, signal);
        for (const entry of entries) if (emit(entry)) fresh++;
        if (entries.length < config.limit) break;
        const newest = entries[entries.length - 1]!.ts;
        if (newest === from) {
          // More than `limit` lines share one nanosecond: a page cannot get past them.
          counters.backfill_truncated!++;
          logger.warn('more lines share one timestamp than the page limit; some may be skipped (raise limit)', { ts: newest.toString() });
          from = newest + 1n;
        } else {
          // Same-timestamp lines may straddle the page boundary: restart at that timestamp, dedup skips repeats.
          from = newest;
        }
      }
      return fresh;
    };

    const backfill = async (tailStart: bigint) => {
      // resumeOverlap re-reads a little before the last line, for lines of other streams that Loki
      // delivered out of timestamp order; dedup drops what was already emitted.
      let from = lastNs === undefined ? initialStart : lastNs - BigInt(Math.floor(config.resumeOverlap)) * 1_000_000n;
      const oldest = nowNs() - BigInt(Math.floor(config.maxBackfill)) * 1_000_000n;
      if (from < oldest) {
        counters.backfill_window_exceeded!++;
        logger.warn(`gap since the last line is longer than maxBackfill; lines older than ${config.maxBackfill} ms are skipped`, { from: from.toString() });
        from = oldest;
      }
      // `end` is exclusive; reach past the tail's start so the two overlap (dedup removes the overlap)
      // even when this machine's clock is a little behind Loki's.
      counters.backfilled_lines! += await pageForward(from, tailStart + 60_000_000_000n);
    };

    const connect = (): Promise<Outcome> =>
      new Promise((resolve) => {
        const tailStart = nowNs();
        // Resume from the last line (inclusive; dedup skips it), back-filled by query_range below.
        const params = new URLSearchParams({ query: config.query, limit: String(config.limit), start: tailStart.toString() });
        if (config.delayFor > 0) params.set('delay_for', String(config.delayFor));
        const wsUrl = `${baseUrl.replace(/^http/, 'ws')}/loki/api/v1/tail?${params}`;
        let opened = false;
        let openedAt = 0;
        let received = 0;
        let backfilling = true;
        let pending: Buffer[] = [];
        let paused = false;
        let finished = false;
        let recovery: Promise<void> = Promise.resolve();
        const socket = new WebSocket(wsUrl, { headers, handshakeTimeout: config.requestTimeout, perMessageDeflate: false });

        const finish = (outcome: Outcome) => {
          if (finished) return;
          finished = true;
          signal.removeEventListener('abort', onAbort);
          hooks.onDrained = undefined;
          // A paused socket cannot read the server's close reply; drop it instead of waiting 30 s.
          if (socket.readyState === WebSocket.OPEN && !paused) socket.close(1000);
          else if (socket.readyState !== WebSocket.CLOSED) socket.terminate();
          resolve(outcome);
        };
        const onAbort = () => finish({ kind: 'aborted' });
        signal.addEventListener('abort', onAbort, { once: true });

        const pause = () => {
          if (paused) return;
          paused = true;
          counters.backpressure_pauses!++;
          socket.pause();
        };
        hooks.onDrained = () => {
          if (paused && !backfilling) {
            paused = false;
            socket.resume();
          }
        };

        const processFrame = (raw: Buffer) => {
          let json: unknown;
          try {
            json = JSON.parse(raw.toString('utf8'));
          } catch {
            counters.protocol_errors!++;
            logger.warn('tail frame is not JSON; skipped', { bytes: raw.length });
            return;
          }
          const frame = TailFrameSchema.safeParse(json);
          if (!frame.success) {
            counters.protocol_errors!++;
            logger.warn(`tail frame has an unexpected shape: ${formatZodIssues(frame.error.issues)}`);
            return;
          }
          const entries = entriesOf(frame.data.streams ?? []);
          for (const entry of entries) {
            counters.lines_received!++;
            emit(entry);
          }
          const dropped = frame.data.dropped_entries ?? [];
          if (dropped.length > 0) {
            counters.dropped_entries! += dropped.length;
            if (config.recoverDropped) {
              // Loki still stored the lines it did not send: fetch their time range again (dedup keeps the rest out).
              let low = BigInt(dropped[0]!.timestamp);
              let high = low;
              for (const item of dropped) {
                const ts = BigInt(item.timestamp);
                if (ts < low) low = ts;
                if (ts > high) high = ts;
              }
              recovery = recovery.then(async () => {
                if (finished) return;
                try {
                  counters.dropped_recovered! += await pageForward(low, high + 1n);
                } catch (error) {
                  counters.dropped_recovery_failures!++;
                  logger.warn(errorMessage(SCOPE, `could not fetch the dropped lines again: ${clean(describeError(error))}`));
                }
              });
            }
            const first = dropped[0]!.timestamp;
            const last = dropped[dropped.length - 1]!.timestamp;
            const id = `loki-dropped:${createHash('sha256')
              .update(`${tenant}\u0000${JSON.stringify(dropped)}`)
              .digest('hex')
              .slice(0, 40)}`;
            logger.warn(`Loki dropped ${dropped.length} log lines of the tail`, { first, last });
            enqueue({
              id,
              kind: 'log',
              source: name,
              time: clock.now(),
              host: 'unknown',
              service: 'loki',
              level: 'warn',
              message: `Loki dropped ${dropped.length} log line${dropped.length === 1 ? '' : 's'} of the tail (timestamps ${first} to ${last}) because they were not read fast enough${config.recoverDropped ? '; fish fetches them again with query_range' : '; they were not delivered to fish'}`,
              labels: { dropped_entries: String(dropped.length) },
            });
          }
          if (queue.isFull()) pause();
        };

        socket.on('unexpected-response', (request: ClientRequest, response: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            if (size < 4096) chunks.push(chunk);
            size += chunk.length;
          });
          const done = () => {
            request.destroy();
            finish({ kind: 'rejected', status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').trim() });
          };
          response.on('end', done);
          response.on('error', done);
        });
        socket.on('open', () => {
          opened = true;
          openedAt = clock.now();
          state = 'connected';
          detail = undefined;
          backfill(tailStart).then(
            () => {
              backfilling = false;
              const frames = pending;
              pending = [];
              for (const frame of frames) processFrame(frame);
              if (paused && !queue.isFull()) {
                paused = false;
                socket.resume();
              }
            },
            (error: unknown) => {
              if (finished) return;
              counters.backfill_failures!++;
              finish({ kind: 'failed', error, opened: true });
            },
          );
        });
        socket.on('message', (data: Buffer) => {
          received++;
          if (backfilling) {
            pending.push(data);
            // Bound the frames held while the back-fill runs.
            if (pending.length * 100 >= config.bufferSize) pause();
            return;
          }
          processFrame(data);
        });
        socket.on('error', (error: Error) => {
          if (!opened) finish({ kind: 'failed', error, opened: false });
        });
        socket.on('close', (code: number, reason: Buffer) => {
          finish({ kind: 'closed', code, reason: reason.toString('utf8'), opened, openedForMs: opened ? clock.now() - openedAt : 0, received });
        });
      });

    while (!signal.aborted) {
      const outcome = await connect();
      if (outcome.kind === 'aborted' || signal.aborted) break;
      let delay: number;
      if (outcome.kind === 'rejected') {
        counters.config_errors!++;
        const what = outcome.status === 401 || outcome.status === 403 ? 'check `tenant` (sent as X-Scope-OrgID) and the credentials' : 'check the LogQL `query`, `limit` and `delayFor`';
        detail = `Loki refused the tail request with HTTP ${outcome.status}: ${clean(outcome.body) || '(empty body)'}; ${what}. Retrying in ${Math.round(config.reconnect.configErrorDelay / 1000)} s.`;
        logger.error(errorMessage(SCOPE, detail));
        delay = config.reconnect.configErrorDelay;
        attempt++;
      } else if (outcome.kind === 'failed') {
        if (outcome.opened) {
          detail = `back-fill after reconnect failed: ${clean(describeError(outcome.error))}`;
        } else {
          counters.connect_failures!++;
          detail = `cannot connect to Loki at ${baseUrl}: ${clean(describeError(outcome.error))}`;
        }
        logger.warn(errorMessage(SCOPE, detail));
        delay = backoff(attempt++);
      } else {
        const { code, reason } = outcome;
        if (code === 1011 && reason.includes('max duration')) {
          counters.closes_max_duration!++;
          detail = 'Loki ended the tail after its maximum duration (tail_max_duration); resuming';
          attempt = 0;
        } else if (code === 1011 && reason.includes('max concurrent tail requests')) {
          counters.closes_concurrency_limit!++;
          detail = `Loki refused the tail: too many tails for this tenant (${reason}); raise limits_config.max_concurrent_tail_requests or stop other tails. Retrying.`;
          logger.warn(errorMessage(SCOPE, detail));
          attempt++;
        } else if (code === 1006) {
          counters.closes_abnormal!++;
          detail = 'connection to Loki dropped (1006: no close frame; restart or proxy timeout); resuming';
          attempt = outcome.openedForMs > 10_000 || outcome.received > 0 ? 0 : attempt + 1;
        } else {
          counters.closes_other!++;
          detail = `Loki closed the tail (${code}${reason ? ` ${clean(reason)}` : ''}); resuming`;
          attempt = outcome.openedForMs > 10_000 || outcome.received > 0 ? 0 : attempt + 1;
        }
        logger.info(errorMessage(SCOPE, detail), { code });
        delay = attempt === 0 ? backoff(0) : backoff(attempt - 1);
      }
      state = 'reconnecting';
      await sleep(delay, signal);
      if (signal.aborted) break;
      counters.reconnects!++;
    }
    if (idleFlush) clearInterval(idleFlush);
    if (joiner) enqueueJoined(joiner.flushAll());
    await position.flush();
    state = 'down';
    detail = 'stopped';
  }

  return {
    specificationVersion: 'v1',
    name,
    async *events(signal: AbortSignal): AsyncGenerator<ObservedEvent> {
      const session = new AbortController();
      const stop = () => session.abort();
      if (signal.aborted || closing.signal.aborted) return;
      signal.addEventListener('abort', stop, { once: true });
      closing.signal.addEventListener('abort', stop, { once: true });
      const hooks: { onDrained?: () => void } = {};
      const queue = new BoundedQueue<ObservedEvent>(config.bufferSize, () => hooks.onDrained?.());
      state = 'reconnecting';
      detail = 'connecting';
      const runner = run(session.signal, queue, hooks).catch((error: unknown) => {
        state = 'down';
        detail = `stopped after an unexpected error: ${clean(describeError(error))}`;
        logger.error(errorMessage(SCOPE, detail));
      });
      try {
        while (!session.signal.aborted) {
          await queue.waitForItem(session.signal);
          while (!session.signal.aborted) {
            const event = queue.shift();
            if (event === undefined) break;
            yield event;
          }
        }
      } finally {
        signal.removeEventListener('abort', stop);
        closing.signal.removeEventListener('abort', stop);
        session.abort();
        await runner;
      }
    },
    health: () => ({ state, ...(detail === undefined ? {} : { detail }), counters: { ...counters } }),
    async check(signal?: AbortSignal) {
      const abort = signal ? AbortSignal.any([signal, AbortSignal.timeout(config.requestTimeout)]) : AbortSignal.timeout(config.requestTimeout);
      try {
        const ready = await fetchImpl(`${baseUrl}/ready`, { headers, signal: abort });
        if (!ready.ok) {
          const body = clean((await ready.text().catch(() => '')).trim());
          return { ok: false, detail: `Loki at ${baseUrl} is not ready (GET /ready answered HTTP ${ready.status}: ${body || '(empty)'})` };
        }
        const end = nowNs();
        await queryRange(end - 300_000_000_000n, end, abort);
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
