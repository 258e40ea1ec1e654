import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { WebSocketServer, type WebSocket } from 'ws';
import errorTexts from './__fixtures__/loki/errors.json' with { type: 'json' };
import queryRangeFixture from './__fixtures__/loki/query-range.json' with { type: 'json' };
import { categorize, mergedLabels, type CategorizedLabels, type ParserStage } from './loki-pipeline.js';

/**
 * A test server that speaks Grafana Loki's HTTP API the way Loki does (protocols.md §1): the
 * WebSocket tail with its pre-upgrade 400s, backward-then-reversed historical backfill, one stream
 * object per entry, 100 entries per frame, 1 s pings, `dropped_entries`, 1011 closes with Loki's
 * reason texts and abrupt 1006 drops; `query_range` with exclusive `end`, `limit` and `direction`;
 * text/plain errors; `/ready`; tenancy through `X-Scope-OrgID`; JSON `push`.
 */

export interface LokiEntry {
  /** Nanoseconds since the epoch. */
  ts: bigint;
  line: string;
  labels: Record<string, string>;
  structuredMetadata?: Record<string, string>;
}

export interface LokiServerOptions {
  /** Like Loki's `auth_enabled`: when true, a request without `X-Scope-OrgID` gets 401 "no org id". @default true */
  authEnabled?: boolean;
  /** `-querier.tail-max-duration`; Loki's default is 1 h, tests make it short. @default 3_600_000 */
  tailMaxDurationMs?: number;
  /** `limits_config.max_concurrent_tail_requests` per tenant. @default 10 */
  maxConcurrentTails?: number;
  /** `wsPingPeriod`. @default 1000 */
  pingIntervalMs?: number;
  /** `max_entries_limit_per_query`. @default 5000 */
  maxEntriesLimitPerQuery?: number;
  /** Server clock in ns (for the default `start` of tail and query_range). */
  nowNs?: () => bigint;
  /** Require this bearer token or basic credentials (a reverse proxy in front of Loki). */
  requireAuthorization?: string;
  /** Answer as a Loki before 3.0: the categorize-labels header is ignored, every label merged into `stream`. @default false */
  ignoreCategorizeLabels?: boolean;
}

export interface LokiServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Stores entries as a push would (the HTTP push endpoint does the same). Delivered to live tails. */
  push(tenant: string, entries: LokiEntry[]): void;
  /** Every stored entry of a tenant, in timestamp order. */
  entries(tenant: string): LokiEntry[];
  /** Open tail connections (all tenants). */
  activeTails(): number;
  /** Total tail connections upgraded since start (including refused-by-concurrency ones). */
  tailConnections(): number;
  /** Requests received, for assertions (`path?query`). */
  requests: Array<{ method: string; path: string; tenant: string | undefined }>;
  /** Drops the TCP socket of every tail without a close frame: the client sees 1006. */
  terminateTails(): void;
  /** Closes every tail as Loki does on shutdown of the ingesters (1011, given reason). */
  closeTails(code?: number, reason?: string): void;
  /** The next `count` entries that would go to a tail are dropped and reported as `dropped_entries`, as Loki does for a slow client. */
  dropNextTailEntries(count: number): void;
  /** Changes `max_concurrent_tail_requests` at run time (a test can refuse, then allow). */
  setMaxConcurrentTails(limit: number): void;
  setTailMaxDurationMs(ms: number): void;
  close(): Promise<void>;
}

interface Matcher {
  name: string;
  type: '=' | '!=' | '=~' | '!~';
  value: string;
  regex?: RegExp;
}
interface LineFilter {
  type: '|=' | '!=' | '|~' | '!~';
  value: string;
  regex?: RegExp;
}
/** A stage of the log pipeline after the selector, in query order. */
export type PipelineStage = { kind: 'line'; filter: LineFilter } | { kind: 'parser'; parser: ParserStage } | { kind: 'label'; matcher: Matcher };
export interface ParsedLogQuery {
  matchers: Matcher[];
  /** The line filters alone. */
  filters: LineFilter[];
  stages: PipelineStage[];
}

export class LogQLParseError extends Error {}

/**
 * Minimal LogQL: a stream selector `{a="b", c=~"re"}`, then line filters `|= "x"`, `!= "x"`,
 * `|~ "re"`, `!~ "re"`, the parsers `| json` and `| logfmt [--strict] [--keep-empty]`, and string
 * label filters `| name = "x"` (`==`, `!=`, `=~`, `!~`) on the labels so far.
 */
export function parseLogQuery(query: string): ParsedLogQuery {
  let position = 0;
  const text = query;
  const fail = (message: string): never => {
    // Loki reports 1-based columns: "parse error at line 1, col 5: syntax error: ...".
    throw new LogQLParseError(`parse error at line 1, col ${position + 1}: syntax error: ${message}`);
  };
  const skipSpace = () => {
    while (position < text.length && /\s/.test(text[position]!)) position++;
  };
  const readString = (): string => {
    skipSpace();
    const quote = text[position];
    if (quote === '`') {
      const end = text.indexOf('`', position + 1);
      if (end < 0) fail('unexpected end of input, expecting STRING');
      const value = text.slice(position + 1, end);
      position = end + 1;
      return value;
    }
    if (quote !== '"') fail(`unexpected ${quote === undefined ? 'end of input' : JSON.stringify(quote)}, expecting STRING`);
    let end = position + 1;
    while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
    if (end >= text.length) fail('unexpected end of input, expecting STRING');
    const raw = text.slice(position, end + 1);
    position = end + 1;
    try {
      return JSON.parse(raw) as string;
    } catch {
      return fail(`invalid string ${raw}`);
    }
  };
  const compile = (value: string): RegExp => {
    try {
      // Loki anchors label regexes; line-filter regexes are not anchored (handled by the caller).
      return new RegExp(value);
    } catch (error) {
      return fail(`invalid regexp ${JSON.stringify(value)}: ${(error as Error).message}`);
    }
  };
  skipSpace();
  if (text[position] !== '{') fail(`unexpected ${position >= text.length ? 'end of input' : 'IDENTIFIER'}, expecting { or ( or vector or sum or max or min or count`);
  position++;
  const matchers: Matcher[] = [];
  for (;;) {
    skipSpace();
    if (text[position] === '}') {
      position++;
      break;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(position))?.[0];
    if (!name) fail(`unexpected ${position >= text.length ? 'end of input' : JSON.stringify(text[position])}, expecting IDENTIFIER`);
    position += name!.length;
    skipSpace();
    const operator = /^(=~|!~|!=|=)/.exec(text.slice(position))?.[0] as Matcher['type'] | undefined;
    if (!operator) fail('unexpected token, expecting = or != or =~ or !~');
    position += operator!.length;
    const value = readString();
    const matcher: Matcher = { name: name!, type: operator!, value };
    if (operator === '=~' || operator === '!~') matcher.regex = new RegExp(`^(?:${compile(value).source})$`);
    matchers.push(matcher);
    skipSpace();
    if (text[position] === ',') {
      position++;
      continue;
    }
    if (text[position] === '}') continue;
    fail(`unexpected ${position >= text.length ? 'end of input' : JSON.stringify(text[position])}, expecting , or }`);
  }
  if (matchers.length === 0) fail('unexpected }, expecting IDENTIFIER');
  if (!matchers.some((m) => (m.type === '=' && m.value !== '') || (m.type === '=~' && !m.regex!.test('')))) {
    throw new LogQLParseError(
      'parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will',
    );
  }
  const filters: LineFilter[] = [];
  const stages: PipelineStage[] = [];
  for (;;) {
    skipSpace();
    if (position >= text.length) break;
    const operator = /^(\|=|!=|\|~|!~)/.exec(text.slice(position))?.[0] as LineFilter['type'] | undefined;
    if (!operator && text[position] === '|') {
      position++;
      skipSpace();
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(position))?.[0];
      if (!word) fail(`unexpected ${position >= text.length ? 'end of input' : JSON.stringify(text[position])}, expecting IDENTIFIER`);
      position += word!.length;
      skipSpace();
      const labelOperator = /^(==|=~|!~|!=|=)/.exec(text.slice(position))?.[0];
      if (labelOperator) {
        position += labelOperator.length;
        const value = readString();
        const type = (labelOperator === '==' ? '=' : labelOperator) as Matcher['type'];
        const matcher: Matcher = { name: word!, type, value };
        if (type === '=~' || type === '!~') matcher.regex = new RegExp(`^(?:${compile(value).source})$`);
        stages.push({ kind: 'label', matcher });
        continue;
      }
      if (word === 'json') {
        stages.push({ kind: 'parser', parser: { type: 'json' } });
        continue;
      }
      if (word === 'logfmt') {
        const parser = { type: 'logfmt' as const, strict: false, keepEmpty: false };
        for (let flag = /^--(strict|keep-empty)\b/.exec(text.slice(position)); flag; flag = /^--(strict|keep-empty)\b/.exec(text.slice(position))) {
          if (flag[1] === 'strict') parser.strict = true;
          else parser.keepEmpty = true;
          position += flag[0].length;
          skipSpace();
        }
        stages.push({ kind: 'parser', parser });
        continue;
      }
      fail(`unexpected IDENTIFIER ${JSON.stringify(word)} (this test server knows json, logfmt and string label filters)`);
    }
    if (!operator) fail(`unexpected ${JSON.stringify(text[position])}`);
    position += operator!.length;
    const value = readString();
    const filter: LineFilter = { type: operator!, value };
    if (operator === '|~' || operator === '!~') filter.regex = compile(value);
    filters.push(filter);
    stages.push({ kind: 'line', filter });
  }
  return { matchers, filters, stages };
}

const matches = (matcher: Matcher, labels: Record<string, string>): boolean => {
  const value = labels[matcher.name] ?? '';
  return matcher.type === '=' ? value === matcher.value : matcher.type === '!=' ? value !== matcher.value : matcher.type === '=~' ? matcher.regex!.test(value) : !matcher.regex!.test(value);
};

const lineMatches = (filter: LineFilter, line: string): boolean =>
  filter.type === '|=' ? line.includes(filter.value) : filter.type === '!=' ? !line.includes(filter.value) : filter.type === '|~' ? filter.regex!.test(line) : !filter.regex!.test(line);

/** Runs the query over one entry: its labels by category when it is kept, undefined when a selector or filter drops it. */
export function evaluateQuery(query: ParsedLogQuery, entry: LokiEntry): CategorizedLabels | undefined {
  for (const matcher of query.matchers) if (!matches(matcher, entry.labels)) return undefined;
  const parsers: ParserStage[] = [];
  for (const stage of query.stages) {
    if (stage.kind === 'line' && !lineMatches(stage.filter, entry.line)) return undefined;
    if (stage.kind === 'parser') parsers.push(stage.parser);
    if (stage.kind === 'label' && !matches(stage.matcher, mergedLabels(categorize(parsers, entry.line, entry.labels, entry.structuredMetadata)))) return undefined;
  }
  return categorize(parsers, entry.line, entry.labels, entry.structuredMetadata);
}

export function matchesQuery(query: ParsedLogQuery, entry: LokiEntry): boolean {
  return evaluateQuery(query, entry) !== undefined;
}

/** Loki's timestamp parameter: ns integer, float seconds, or RFC3339 (`pkg/loghttp/params.go`). */
export function parseLokiTimestamp(value: string): bigint | undefined {
  if (/^\d+$/.test(value)) {
    // Loki treats a short integer as seconds, a long one as nanoseconds.
    return value.length <= 10 ? BigInt(value) * 1_000_000_000n : BigInt(value);
  }
  if (/^\d+\.\d+$/.test(value)) {
    const [seconds, fraction] = value.split('.') as [string, string];
    return BigInt(seconds) * 1_000_000_000n + BigInt(fraction.slice(0, 9).padEnd(9, '0'));
  }
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(value);
  if (!match) return undefined;
  const milliseconds = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(milliseconds)) return undefined;
  return BigInt(milliseconds) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'));
}

const labelsKey = (labels: Record<string, string>) =>
  JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((key) => [key, labels[key]]),
  );

/** An entry as the response shows it: without categorize-labels every label is in `stream`; with it, `stream` holds the stream's own and each value a third element with the rest (`encodeStream`). */
function wireEntry(entry: LokiEntry, labels: CategorizedLabels, categorized: boolean): { stream: Record<string, string>; value: unknown[] } {
  const value: unknown[] = [entry.ts.toString(), entry.line];
  if (!categorized) return { stream: mergedLabels(labels), value };
  const extra: Record<string, Record<string, string>> = {};
  if (Object.keys(labels.structuredMetadata).length > 0) extra.structuredMetadata = labels.structuredMetadata;
  if (Object.keys(labels.parsed).length > 0) extra.parsed = labels.parsed;
  value.push(extra);
  return { stream: labels.stream, value };
}

interface Tail {
  socket: WebSocket;
  tenant: string;
  query: ParsedLogQuery;
  categorize: boolean;
  timers: NodeJS.Timeout[];
  delayMs: number;
  dropped: Array<{ labels: Record<string, string>; timestamp: string }>;
}

export async function startLokiServer(options: LokiServerOptions = {}): Promise<LokiServer> {
  const authEnabled = options.authEnabled ?? true;
  let tailMaxDurationMs = options.tailMaxDurationMs ?? 3_600_000;
  let maxConcurrentTails = options.maxConcurrentTails ?? 10;
  const pingIntervalMs = options.pingIntervalMs ?? 1000;
  const maxEntries = options.maxEntriesLimitPerQuery ?? 5000;
  const nowNs = options.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n);
  const store = new Map<string, LokiEntry[]>();
  const tails = new Set<Tail>();
  let tailConnections = 0;
  let dropBudget = 0;
  const requests: LokiServer['requests'] = [];

  const entriesOf = (tenant: string) => {
    let list = store.get(tenant);
    if (!list) store.set(tenant, (list = []));
    return list;
  };

  const sendFrame = (tail: Tail, entries: LokiEntry[]) => {
    // maxEntriesPerTailResponse = 100; each entry is its own stream object.
    for (let index = 0; index < entries.length || (index === 0 && tail.dropped.length > 0); index += 100) {
      const chunk = entries.slice(index, index + 100);
      const frame: Record<string, unknown> = {
        streams: chunk.map((entry) => {
          const { stream, value } = wireEntry(entry, evaluateQuery(tail.query, entry) ?? categorize([], entry.line, entry.labels, entry.structuredMetadata), tail.categorize);
          return { stream, values: [value] };
        }),
      };
      if (tail.dropped.length > 0) {
        frame.dropped_entries = tail.dropped.splice(0, 1000);
      }
      if (tail.categorize) frame.encodingFlags = ['categorize-labels'];
      if (tail.socket.readyState === tail.socket.OPEN) tail.socket.send(JSON.stringify(frame));
    }
  };

  const deliver = (tenant: string, entries: LokiEntry[]) => {
    for (const tail of tails) {
      if (tail.tenant !== tenant) continue;
      const matching = entries.filter((entry) => matchesQuery(tail.query, entry));
      const sent: LokiEntry[] = [];
      for (const entry of matching) {
        if (dropBudget > 0) {
          dropBudget--;
          if (tail.dropped.length < 1000) tail.dropped.push({ labels: entry.labels, timestamp: entry.ts.toString() });
        } else sent.push(entry);
      }
      if (sent.length === 0) continue;
      // delay_for holds entries back by that many seconds before sending them.
      if (tail.delayMs > 0) tail.timers.push(setTimeout(() => sendFrame(tail, sent), tail.delayMs));
      else sendFrame(tail, sent);
    }
  };

  const push = (tenant: string, entries: LokiEntry[]) => {
    const list = entriesOf(tenant);
    for (const entry of entries) {
      // Keep the list sorted by timestamp; equal timestamps keep arrival order.
      let index = list.length;
      while (index > 0 && list[index - 1]!.ts > entry.ts) index--;
      list.splice(index, 0, entry);
    }
    deliver(tenant, entries);
  };

  const textError = (response: ServerResponse, status: number, message: string) => {
    response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    response.end(`${message}\n`);
  };

  /** Returns the tenant, or writes the error and returns undefined. */
  const tenantOf = (request: IncomingMessage): { tenant?: string; status?: number; error?: string } => {
    if (options.requireAuthorization !== undefined && request.headers.authorization !== options.requireAuthorization) {
      return { status: 401, error: 'Unauthorized' };
    }
    const header = request.headers['x-scope-orgid'];
    const value = Array.isArray(header) ? header[0] : header;
    if (!value) return authEnabled ? { status: 401, error: errorTexts.noOrgId } : { tenant: 'fake' };
    if (value.length > 150 || !/^[A-Za-z0-9!\-_.*'()|]+$/.test(value)) return { status: 400, error: `tenant ID '${value}' contains unsupported character` };
    return { tenant: value };
  };

  const parseCommon = (params: URLSearchParams, forTail: boolean): { error?: string; query?: ParsedLogQuery; limit?: number; start?: bigint; end?: bigint } => {
    const queryText = params.get('query') ?? '';
    let query: ParsedLogQuery;
    try {
      query = parseLogQuery(queryText);
    } catch (error) {
      return { error: (error as Error).message };
    }
    const limitText = params.get('limit');
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit)) return { error: `strconv.ParseInt: parsing ${JSON.stringify(limitText)}: invalid syntax` };
    if (limit <= 0) return { error: 'limit must be a positive value' };
    if (limit > maxEntries) return { error: `max entries limit per query exceeded, limit > max_entries_limit (${limit} > ${maxEntries})` };
    const now = nowNs();
    const startText = params.get('start');
    const start = startText === null ? now - 3_600_000_000_000n : parseLokiTimestamp(startText);
    if (start === undefined) return { error: `cannot parse "${startText}" to a valid timestamp` };
    let end = now;
    if (!forTail) {
      const endText = params.get('end');
      const parsedEnd = endText === null ? now : parseLokiTimestamp(endText);
      if (parsedEnd === undefined) return { error: `cannot parse "${endText}" to a valid timestamp` };
      end = parsedEnd;
      if (end < start) return { error: 'end timestamp must not be before or equal to start time' };
    }
    return { query, limit, start, end };
  };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://loki');
    const auth = url.pathname === '/ready' ? { tenant: 'fake' } : tenantOf(request);
    requests.push({ method: request.method ?? 'GET', path: `${url.pathname}${url.search}`, tenant: auth.tenant });
    if (url.pathname === '/ready') {
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('ready\n');
      return;
    }
    if (auth.error !== undefined) return textError(response, auth.status!, auth.error);
    const tenant = auth.tenant!;
    if (url.pathname === '/loki/api/v1/push' && request.method === 'POST') {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        let body = Buffer.concat(chunks);
        if (request.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        if (!(request.headers['content-type'] ?? '').startsWith('application/json')) {
          return textError(response, 415, 'this test server only accepts application/json pushes (Loki defaults to snappy protobuf)');
        }
        let parsed: { streams?: Array<{ stream?: Record<string, string>; values?: unknown[][] }> };
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch (error) {
          return textError(response, 400, `loghttp.PushRequest.Streams: ${(error as Error).message}`);
        }
        const entries: LokiEntry[] = [];
        for (const stream of parsed.streams ?? []) {
          for (const value of stream.values ?? []) {
            if (typeof value[0] !== 'string') return textError(response, 400, 'loghttp.PushRequest.Streams: decode slice: expect string, but found number');
            const entry: LokiEntry = { ts: BigInt(value[0]), line: String(value[1]), labels: stream.stream ?? {} };
            if (value[2] && typeof value[2] === 'object') entry.structuredMetadata = value[2] as Record<string, string>;
            entries.push(entry);
          }
        }
        push(tenant, entries);
        response.writeHead(204);
        response.end();
      });
      return;
    }
    if (url.pathname === '/loki/api/v1/query_range' && (request.method === 'GET' || request.method === 'POST')) {
      const parsed = parseCommon(url.searchParams, false);
      if (parsed.error !== undefined) return textError(response, 400, parsed.error);
      const direction = url.searchParams.get('direction') ?? 'backward';
      if (direction !== 'forward' && direction !== 'backward') return textError(response, 400, `invalid direction '${direction}'`);
      const all = entriesOf(tenant).flatMap((entry) => {
        if (entry.ts < parsed.start! || entry.ts >= parsed.end!) return [];
        const labels = evaluateQuery(parsed.query!, entry);
        return labels === undefined ? [] : [{ entry, labels }];
      });
      const ordered = direction === 'forward' ? all : [...all].reverse();
      const picked = ordered.slice(0, parsed.limit);
      const categorized = !options.ignoreCategorizeLabels && request.headers['x-loki-response-encoding-flags'] === 'categorize-labels';
      // Loki groups the returned entries by stream (all labels, or the stream's own when categorized), each stream's values in the query direction.
      const streams = new Map<string, { stream: Record<string, string>; values: unknown[][] }>();
      for (const { entry, labels } of picked) {
        const wire = wireEntry(entry, labels, categorized);
        const key = labelsKey(wire.stream);
        let stream = streams.get(key);
        if (!stream) streams.set(key, (stream = { stream: wire.stream, values: [] }));
        stream.values.push(wire.value);
      }
      const stats = structuredClone(queryRangeFixture.data.stats);
      stats.summary.totalEntriesReturned = picked.length;
      response.writeHead(200, { 'Content-Type': 'application/json; charset=UTF-8' });
      response.end(JSON.stringify({ status: 'success', data: { resultType: 'streams', ...(categorized ? { encodingFlags: ['categorize-labels'] } : {}), result: [...streams.values()], stats } }));
      return;
    }
    if (url.pathname === '/loki/api/v1/tail') {
      // A plain GET without Upgrade: Loki answers with the websocket library's error.
      return textError(response, 400, 'Bad Request');
    }
    textError(response, 404, '404 page not found');
  });

  const wss = new WebSocketServer({ noServer: true });

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://loki');
    const reject = (status: number, message: string) => {
      const body = `${message}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Bad Request'}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    const auth = tenantOf(request);
    requests.push({ method: 'GET', path: `${url.pathname}${url.search}`, tenant: auth.tenant });
    if (url.pathname !== '/loki/api/v1/tail') return reject(404, '404 page not found');
    if (auth.error !== undefined) return reject(auth.status!, auth.error);
    if (auth.tenant!.includes('|')) return reject(400, errorTexts.multiTenantTail);
    // Everything is parsed before the upgrade, as `ParseTailQuery` does.
    const parsed = parseCommon(url.searchParams, true);
    if (parsed.error !== undefined) return reject(400, parsed.error);
    const delayText = url.searchParams.get('delay_for');
    let delayMs = 0;
    if (delayText !== null) {
      const delay = Number(delayText);
      if (!Number.isInteger(delay)) return reject(400, `strconv.Atoi: parsing ${JSON.stringify(delayText)}: invalid syntax`);
      if (delay > 5) return reject(400, errorTexts.delayForTooLarge);
      delayMs = delay * 1000;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      tailConnections++;
      const tenant = auth.tenant!;
      const tail: Tail = {
        socket: ws,
        tenant,
        query: parsed.query!,
        categorize: !options.ignoreCategorizeLabels && request.headers['x-loki-response-encoding-flags'] === 'categorize-labels',
        timers: [],
        delayMs,
        dropped: [],
      };
      ws.on('error', () => undefined);
      const active = [...tails].filter((other) => other.tenant === tenant).length;
      if (active + 1 > maxConcurrentTails) {
        // The limit is checked on the ingesters, after the upgrade succeeded.
        ws.close(1011, `rpc error: code = Code(400) desc = max concurrent tail requests limit exceeded, count > limit (${active + 1} > ${maxConcurrentTails})`);
        return;
      }
      tails.add(tail);
      const stop = () => {
        for (const timer of tail.timers) clearTimeout(timer);
        tails.delete(tail);
      };
      ws.on('close', stop);
      tail.timers.push(setInterval(() => ws.readyState === ws.OPEN && ws.ping(), pingIntervalMs));
      tail.timers.push(setTimeout(() => ws.close(1011, errorTexts.maxDuration), tailMaxDurationMs));
      // Historical backfill: read start..now backward, take `limit`, reverse.
      const now = nowNs();
      const history = entriesOf(tenant).filter((entry) => entry.ts >= parsed.start! && entry.ts <= now && matchesQuery(parsed.query!, entry));
      const backfill = history.slice(Math.max(0, history.length - parsed.limit!));
      if (backfill.length > 0) sendFrame(tail, backfill);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    push,
    entries: (tenant) => [...entriesOf(tenant)],
    activeTails: () => tails.size,
    tailConnections: () => tailConnections,
    requests,
    terminateTails: () => {
      for (const tail of tails) tail.socket.terminate();
    },
    closeTails: (code = 1011, reason = errorTexts.ingestersClosed) => {
      for (const tail of tails) tail.socket.close(code, reason);
    },
    dropNextTailEntries: (count) => {
      dropBudget += count;
    },
    setMaxConcurrentTails: (limit) => {
      maxConcurrentTails = limit;
    },
    setTailMaxDurationMs: (ms) => {
      tailMaxDurationMs = ms;
    },
    close: async () => {
      for (const tail of tails) tail.socket.terminate();
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Loki's exact error and close-reason texts (from the Loki sources, see protocols.md §1). */
export const lokiErrorTexts = errorTexts;
