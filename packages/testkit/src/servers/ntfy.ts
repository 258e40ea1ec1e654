import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A test ntfy server that speaks the documented publish API (protocols.md section 3, read from
 * ntfy@81a486ad = server v2.13.0, and the v2.16 update/clear/delete additions):
 *
 * - JSON publishing (`POST|PUT /` with `topic` in the body) and header publishing
 *   (`POST|PUT /<topic>`, `X-Title`/`Title`/`t` ... with RFC 2047 decoding), query params too;
 * - topic regex `^[-_A-Za-z0-9]{1,64}$`, priority 1..5 or names, tags, actions (max 3, shapes);
 * - message-size-limit (4096 bytes): longer -> attachment, or 400 40014 when attachments are off
 *   (the self-hosted default); JSON bodies above 2x the limit -> 413 41303;
 * - auth: Bearer tokens, Basic (also `:token`), `?auth=`; 401 40101 for bad credentials,
 *   403 40301 for missing permission, JSON error bodies as ntfy writes them;
 * - v2.16+: sequence ids (JSON `sequence_id`, `X-Sequence-ID`/`Sequence-ID`/`SID`,
 *   `POST|PUT /<topic>/<sid>`), `PUT /<topic>/<sid>/clear|read`, `DELETE /<topic>/<sid>`;
 *   v2.13 ignores the field and header and answers 404 to the paths, as the real one does;
 * - `GET /v1/health`; `GET /v1/version` only from v2.17 (admin-only, as upstream added it);
 * - `GET /<topic>/json?poll=1[&since=]` to read messages back.
 */
export type NtfyServerVersion = '2.13.0' | '2.16.0' | '2.17.0';

export interface NtfyUser {
  username: string;
  password: string;
  /** @default 'user' */
  role?: 'admin' | 'user';
  /** @default 'read-write' */
  access?: 'read-write' | 'read-only' | 'write-only' | 'deny-all';
}

export interface NtfyAuthOptions {
  users?: NtfyUser[];
  /** Access tokens (`tk_` + 29 chars upstream) and the user they belong to. */
  tokens?: Array<{ token: string; username: string }>;
  /** What anonymous visitors may do (`auth-default-access`). @default 'deny-all' */
  defaultAccess?: 'read-write' | 'read-only' | 'write-only' | 'deny-all';
}

export interface NtfyServerOptions {
  version: NtfyServerVersion;
  auth?: NtfyAuthOptions;
  /** `message-size-limit`. @default 4096 */
  messageSizeLimit?: number;
  /** Whether an attachment cache is configured (ntfy.sh: yes; self-hosted default: no). @default false */
  attachments?: boolean;
  /** `cache-duration` in seconds, used for `expires`. @default 43200 */
  cacheDurationSeconds?: number;
  /** Injectable time in milliseconds. @default Date.now */
  now?: () => number;
  /** Loopback port to listen on, e.g. the one a stopped server had (a server coming back). @default 0 (any free port) */
  port?: number;
}

export interface NtfyAction {
  id: string;
  action: string;
  label: string;
  clear: boolean;
  url?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  intent?: string;
  extras?: Record<string, string>;
  value?: string;
}

export interface NtfyMessage {
  id: string;
  time: number;
  expires?: number;
  event: 'message' | 'message_clear' | 'message_delete';
  topic: string;
  sequence_id?: string;
  title?: string;
  message?: string;
  priority?: number;
  tags?: string[];
  click?: string;
  icon?: string;
  actions?: NtfyAction[];
  attachment?: { name: string; type?: string; size?: number; expires?: number; url: string };
  content_type?: string;
}

export interface RecordedNtfyRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Header values as they arrived (Node gives non-ASCII bytes as Latin-1 characters). */
  headers: Record<string, string | string[] | undefined>;
  /** The exact body bytes. */
  body: Buffer;
  status: number;
}

export interface NtfyTestServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly version: NtfyServerVersion;
  /** Every event published (messages, clears, deletes), oldest first. */
  readonly messages: NtfyMessage[];
  readonly requests: RecordedNtfyRequest[];
  messagesFor(topic: string): NtfyMessage[];
  /** The next `times` requests (any path) answer `status` with an ntfy error body. */
  failNext(status: number, times?: number): void;
  /** The next `times` requests have their connection destroyed before any answer. */
  dropNext(times?: number): void;
  /** The next `times` requests wait this long before being handled (for timeouts). */
  delayNext(milliseconds: number, times?: number): void;
  stop(): Promise<void>;
}

interface HttpError {
  code: number;
  http: number;
  error: string;
  link?: string;
}

const errors = {
  notFound: { code: 40401, http: 404, error: 'page not found' },
  unauthorized: { code: 40101, http: 401, error: 'unauthorized', link: 'https://ntfy.sh/docs/publish/#authentication' },
  forbidden: { code: 40301, http: 403, error: 'forbidden', link: 'https://ntfy.sh/docs/publish/#authentication' },
  priorityInvalid: { code: 40007, http: 400, error: 'invalid priority parameter', link: 'https://ntfy.sh/docs/publish/#message-priority' },
  topicInvalid: { code: 40009, http: 400, error: 'invalid request: topic invalid' },
  attachmentsDisallowed: { code: 40014, http: 400, error: 'invalid request: attachments not allowed', link: 'https://ntfy.sh/docs/config/#attachments' },
  messageJsonInvalid: { code: 40017, http: 400, error: 'invalid request: request body must be message JSON', link: 'https://ntfy.sh/docs/publish/#publish-as-json' },
  actionsInvalid: { code: 40018, http: 400, error: 'invalid request: actions invalid', link: 'https://ntfy.sh/docs/publish/#action-buttons' },
  jsonBodyTooLarge: { code: 41303, http: 413, error: 'JSON body too large' },
  internal: { code: 50001, http: 500, error: 'internal server error' },
} satisfies Record<string, HttpError>;

/** Not from the v2.13 source (the feature came later): shape of a bad sequence id is assumed. */
const sequenceIdInvalid: HttpError = { code: 40049, http: 400, error: 'invalid request: sequence ID invalid' };

class NtfyHttpError extends Error {
  constructor(
    readonly body: HttpError,
    detail?: string,
  ) {
    super(detail === undefined ? body.error : `${body.error}, ${detail}`);
  }
}

const TOPIC = /^[-_A-Za-z0-9]{1,64}$/;
const TOPIC_PATH = /^\/([-_A-Za-z0-9]{1,64})$/;
const SEQUENCE_PATH = /^\/([-_A-Za-z0-9]{1,64})\/([-_A-Za-z0-9]{1,64})$/;
const CLEAR_PATH = /^\/([-_A-Za-z0-9]{1,64})\/([-_A-Za-z0-9]{1,64})\/(clear|read)$/;
const POLL_PATH = /^\/([-_A-Za-z0-9]{1,64}(?:,[-_A-Za-z0-9]{1,64})*)\/json$/;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const DISALLOWED_TOPICS = new Set(['docs', 'static', 'file', 'app', 'account', 'settings', 'signup', 'login', 'v1']);

function randomId(length: number): string {
  const bytes = randomBytes(length);
  let id = '';
  for (const byte of bytes) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return id;
}

/** RFC 2047 encoded-words (`=?UTF-8?B?...?=`, `=?UTF-8?Q?...?=`), as ntfy's `maybeDecodeHeader`. */
export function decodeRfc2047(value: string): string {
  return value.replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_match, charset: string, encoding: string, text: string) => {
    const bytes =
      encoding.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(
            text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
            'latin1',
          );
    return /^utf-?8$/i.test(charset) ? bytes.toString('utf8') : bytes.toString('latin1');
  });
}

function parsePriority(raw: string | number | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw === 'number') {
    if (raw === 0) return undefined;
    if (Number.isInteger(raw) && raw >= 1 && raw <= 5) return raw;
    throw new NtfyHttpError(errors.priorityInvalid);
  }
  const names: Record<string, number> = { '1': 1, min: 1, '2': 2, low: 2, '3': 3, default: 3, '4': 4, high: 4, '5': 5, max: 5, urgent: 5 };
  const value = names[raw.trim().toLowerCase()];
  if (value === undefined) throw new NtfyHttpError(errors.priorityInvalid);
  return value;
}

/** The `X-Actions` simple format: `action, label, url, key=value, ...; ...` (or a JSON array). */
function parseHeaderActions(value: string): unknown[] {
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed) as unknown[];
    } catch {
      throw new NtfyHttpError(errors.actionsInvalid, 'JSON array invalid');
    }
  }
  const actions: unknown[] = [];
  for (const definition of splitQuoted(trimmed, ';')) {
    if (definition.trim() === '') continue;
    const action: Record<string, unknown> = {};
    const positional = ['action', 'label', 'url'];
    for (const part of splitQuoted(definition, ',')) {
      const field = part.trim();
      const equals = field.indexOf('=');
      const key = equals > 0 ? field.slice(0, equals).trim() : undefined;
      if (key !== undefined && /^[a-zA-Z][\w.-]*$/.test(key) && !(positional[0] === 'url' && /^https?$/i.test(key))) {
        const raw = unquote(field.slice(equals + 1).trim());
        if (key.startsWith('headers.') || key.startsWith('extras.')) {
          const [map, name] = [key.slice(0, key.indexOf('.')), key.slice(key.indexOf('.') + 1)];
          action[map] = { ...((action[map] as Record<string, string>) ?? {}), [name]: raw };
        } else if (key === 'clear') {
          action.clear = raw === 'true' || raw === '1' || raw === 'yes';
        } else {
          action[key] = raw;
          const index = positional.indexOf(key);
          if (index >= 0) positional.splice(index, 1);
        }
      } else {
        const key = positional.shift();
        if (key === undefined) throw new NtfyHttpError(errors.actionsInvalid, `term '${field}' unexpected`);
        action[key] = unquote(field);
      }
    }
    actions.push(action);
  }
  return actions;
}

function splitQuoted(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (const character of text) {
    if (quote !== undefined) {
      if (character === quote) quote = undefined;
      current += character;
    } else if (character === '"' || character === "'") {
      quote = character;
      current += character;
    } else if (character === separator) {
      parts.push(current);
      current = '';
    } else current += character;
  }
  parts.push(current);
  return parts;
}

function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) return value.slice(1, -1);
  return value;
}

function validateActions(raw: unknown, version: NtfyServerVersion): NtfyAction[] {
  if (!Array.isArray(raw)) throw new NtfyHttpError(errors.actionsInvalid, 'actions must be an array');
  if (raw.length > 3) throw new NtfyHttpError(errors.actionsInvalid, 'only 3 actions allowed');
  const allowed = version === '2.17.0' ? ['view', 'broadcast', 'http', 'copy'] : ['view', 'broadcast', 'http'];
  return raw.map((item) => {
    if (typeof item !== 'object' || item === null) throw new NtfyHttpError(errors.actionsInvalid, 'action must be an object');
    const source = item as Record<string, unknown>;
    const action = typeof source.action === 'string' ? source.action.toLowerCase() : '';
    if (!allowed.includes(action))
      throw new NtfyHttpError(errors.actionsInvalid, `parameter 'action' cannot be '${String(source.action)}', valid values are ${allowed.map((name) => `'${name}'`).join(', ')}`);
    if (typeof source.label !== 'string' || source.label === '') throw new NtfyHttpError(errors.actionsInvalid, "parameter 'label' is required");
    for (const key of ['url', 'method', 'body', 'intent', 'value'] as const) {
      if (source[key] !== undefined && typeof source[key] !== 'string') throw new NtfyHttpError(errors.actionsInvalid, `parameter '${key}' must be a string`);
    }
    if ((action === 'view' || action === 'http') && (typeof source.url !== 'string' || source.url === '')) {
      throw new NtfyHttpError(errors.actionsInvalid, `parameter 'url' is required for action '${action}'`);
    }
    const result: NtfyAction = { id: randomId(10), action, label: source.label, clear: source.clear === true };
    if (typeof source.url === 'string') result.url = source.url;
    if (action === 'http') {
      const method = typeof source.method === 'string' && source.method !== '' ? source.method.toUpperCase() : 'POST';
      if ((method === 'GET' || method === 'HEAD') && typeof source.body === 'string' && source.body !== '') {
        throw new NtfyHttpError(errors.actionsInvalid, `parameter 'body' cannot be set if method is ${method}`);
      }
      result.method = method;
      if (typeof source.body === 'string') result.body = source.body;
    }
    for (const map of ['headers', 'extras'] as const) {
      if (source[map] === undefined) continue;
      const value = source[map];
      if (typeof value !== 'object' || value === null || Object.values(value).some((entry) => typeof entry !== 'string')) {
        throw new NtfyHttpError(errors.actionsInvalid, `parameter '${map}' must be a map of strings`);
      }
      result[map] = value as Record<string, string>;
    }
    if (typeof source.intent === 'string') result.intent = source.intent;
    if (action === 'broadcast' && result.intent === undefined) result.intent = 'io.heckel.ntfy.USER_ACTION';
    if (typeof source.value === 'string') result.value = source.value;
    return result;
  });
}

export async function startNtfyServer(options: NtfyServerOptions): Promise<NtfyTestServer> {
  const version = options.version;
  const supportsSequences = version !== '2.13.0';
  const sizeLimit = options.messageSizeLimit ?? 4096;
  const cacheSeconds = options.cacheDurationSeconds ?? 43_200;
  const now = options.now ?? Date.now;
  const messages: NtfyMessage[] = [];
  const requests: RecordedNtfyRequest[] = [];
  const sockets = new Set<Socket>();
  let failures: Array<{ status: number }> = [];
  let drops = 0;
  let delays: number[] = [];
  let baseUrl = '';

  type Visitor = { kind: 'anonymous' } | { kind: 'user'; user: NtfyUser };

  function authenticate(request: IncomingMessage, query: URLSearchParams): Visitor {
    let header = request.headers.authorization;
    const authParam = query.get('auth');
    if (authParam !== null) {
      try {
        header = Buffer.from(authParam, 'base64').toString('utf8');
      } catch {
        throw new NtfyHttpError(errors.unauthorized);
      }
    }
    if (header === undefined || header === '') return { kind: 'anonymous' };
    if (options.auth === undefined) return { kind: 'anonymous' };
    const users = options.auth.users ?? [];
    const byToken = (token: string) => {
      const entry = (options.auth?.tokens ?? []).find((candidate) => candidate.token === token);
      return entry === undefined ? undefined : users.find((user) => user.username === entry.username);
    };
    const [scheme, ...rest] = header.split(' ');
    const credential = rest.join(' ').trim();
    if (/^bearer$/i.test(scheme ?? '')) {
      const user = byToken(credential);
      if (user === undefined) throw new NtfyHttpError(errors.unauthorized);
      return { kind: 'user', user };
    }
    if (/^basic$/i.test(scheme ?? '')) {
      const decoded = Buffer.from(credential, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new NtfyHttpError(errors.unauthorized);
      const username = decoded.slice(0, colon);
      const password = decoded.slice(colon + 1);
      const user = username === '' ? byToken(password) : users.find((candidate) => candidate.username === username && candidate.password === password);
      if (user === undefined) throw new NtfyHttpError(errors.unauthorized);
      return { kind: 'user', user };
    }
    throw new NtfyHttpError(errors.unauthorized);
  }

  function authorize(visitor: Visitor, permission: 'read' | 'write'): void {
    if (options.auth === undefined) return;
    const access = visitor.kind === 'anonymous' ? (options.auth.defaultAccess ?? 'deny-all') : visitor.user.role === 'admin' ? 'read-write' : (visitor.user.access ?? 'read-write');
    const allowed = access === 'read-write' || (permission === 'read' ? access === 'read-only' : access === 'write-only');
    if (!allowed) throw new NtfyHttpError(errors.forbidden);
  }

  function validTopic(topic: unknown): string {
    if (typeof topic !== 'string' || !TOPIC.test(topic) || DISALLOWED_TOPICS.has(topic)) throw new NtfyHttpError(errors.topicInvalid);
    return topic;
  }

  function validSequenceId(value: string | undefined): string | undefined {
    if (!supportsSequences || value === undefined || value === '') return undefined;
    if (!TOPIC.test(value)) throw new NtfyHttpError(sequenceIdInvalid);
    return value;
  }

  interface PublishInput {
    topic: string;
    message: Buffer;
    title?: string;
    priority?: number;
    tags?: string[];
    click?: string;
    icon?: string;
    markdown?: boolean;
    actions?: NtfyAction[];
    sequenceId?: string;
    filename?: string;
  }

  function publish(input: PublishInput): NtfyMessage {
    const time = Math.floor(now() / 1000);
    const message: NtfyMessage = { id: randomId(12), time, expires: time + cacheSeconds, event: 'message', topic: input.topic };
    if (input.sequenceId !== undefined) message.sequence_id = input.sequenceId;
    if (input.title !== undefined && input.title !== '') message.title = input.title;
    const isUtf8 = (() => {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(input.message);
        return true;
      } catch {
        return false;
      }
    })();
    if (input.message.length > sizeLimit || !isUtf8) {
      // ntfy's "message too large or not UTF-8 -> attachment" path.
      if (options.attachments !== true) throw new NtfyHttpError(errors.attachmentsDisallowed);
      const name = input.filename ?? 'attachment.txt';
      message.message = `You received a file: ${name}`;
      message.attachment = {
        name,
        type: isUtf8 ? 'text/plain; charset=utf-8' : 'application/octet-stream',
        size: input.message.length,
        expires: time + 3 * 3600,
        url: `${baseUrl}/file/${message.id}.txt`,
      };
    } else {
      const text = input.message.toString('utf8');
      message.message = text.trim() === '' ? 'triggered' : text;
    }
    if (input.priority !== undefined) message.priority = input.priority;
    if (input.tags !== undefined && input.tags.length > 0) message.tags = input.tags;
    if (input.click !== undefined && input.click !== '') message.click = input.click;
    if (input.icon !== undefined && input.icon !== '') message.icon = input.icon;
    if (input.actions !== undefined && input.actions.length > 0) message.actions = input.actions;
    if (input.markdown === true) message.content_type = 'text/markdown';
    messages.push(message);
    return message;
  }

  function fromJsonBody(body: Buffer): PublishInput {
    if (body.length > sizeLimit * 2) throw new NtfyHttpError(errors.jsonBodyTooLarge);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new NtfyHttpError(errors.messageJsonInvalid);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new NtfyHttpError(errors.messageJsonInvalid);
    const json = parsed as Record<string, unknown>;
    // Go's json.Unmarshal into typed fields: a wrong type is a decode error (40017).
    const stringFields = ['topic', 'message', 'title', 'click', 'icon', 'attach', 'filename', 'delay', 'email', 'call', 'sequence_id'];
    for (const key of stringFields) if (json[key] !== undefined && typeof json[key] !== 'string') throw new NtfyHttpError(errors.messageJsonInvalid);
    if (json.priority !== undefined && (typeof json.priority !== 'number' || !Number.isInteger(json.priority))) throw new NtfyHttpError(errors.messageJsonInvalid);
    if (json.markdown !== undefined && typeof json.markdown !== 'boolean') throw new NtfyHttpError(errors.messageJsonInvalid);
    if (json.tags !== undefined && (!Array.isArray(json.tags) || json.tags.some((tag) => typeof tag !== 'string'))) throw new NtfyHttpError(errors.messageJsonInvalid);
    const input: PublishInput = {
      topic: validTopic(json.topic),
      message: Buffer.from((json.message as string | undefined) ?? '', 'utf8'),
      priority: parsePriority(json.priority as number | undefined),
    };
    if (json.title !== undefined) input.title = json.title as string;
    if (json.tags !== undefined) input.tags = json.tags as string[];
    if (json.click !== undefined) input.click = json.click as string;
    if (json.icon !== undefined) input.icon = json.icon as string;
    if (json.markdown !== undefined) input.markdown = json.markdown as boolean;
    if (json.filename !== undefined) input.filename = json.filename as string;
    if (json.actions !== undefined) input.actions = validateActions(json.actions, version);
    const sequenceId = validSequenceId(json.sequence_id as string | undefined);
    if (sequenceId !== undefined) input.sequenceId = sequenceId;
    return input;
  }

  function fromHeaders(request: IncomingMessage, query: URLSearchParams, topic: string, body: Buffer, pathSequenceId?: string): PublishInput {
    const read = (...names: string[]): string | undefined => {
      for (const name of names) {
        const header = request.headers[name.toLowerCase()];
        const value = Array.isArray(header) ? header[0] : header;
        if (value !== undefined && value !== '') return decodeRfc2047(value);
        const param = query.get(name.toLowerCase());
        if (param !== null && param !== '') return param;
      }
      return undefined;
    };
    const queryMessage = query.get('message') ?? query.get('m');
    const input: PublishInput = { topic: validTopic(topic), message: queryMessage !== null ? Buffer.from(queryMessage, 'utf8') : body };
    const title = read('x-title', 'title', 't');
    if (title !== undefined) input.title = title;
    input.priority = parsePriority(read('x-priority', 'priority', 'prio', 'p'));
    const tags = read('x-tags', 'tags', 'tag', 'ta');
    if (tags !== undefined)
      input.tags = tags
        .split(',')
        .map((tag) => tag.trim())
        .filter((tag) => tag !== '');
    const click = read('x-click', 'click');
    if (click !== undefined) input.click = click;
    const icon = read('x-icon', 'icon');
    if (icon !== undefined) input.icon = icon;
    const markdown = read('x-markdown', 'markdown', 'md');
    if (markdown !== undefined) input.markdown = ['1', 'yes', 'true'].includes(markdown.toLowerCase());
    const contentType = request.headers['content-type'];
    if (contentType !== undefined && /^text\/markdown/i.test(contentType)) input.markdown = true;
    const filename = read('x-filename', 'filename', 'file', 'f');
    if (filename !== undefined) input.filename = filename;
    const actions = read('x-actions', 'actions', 'action');
    if (actions !== undefined) input.actions = validateActions(parseHeaderActions(actions), version);
    const sequenceId = validSequenceId(pathSequenceId ?? read('x-sequence-id', 'sequence-id', 'sid'));
    if (sequenceId !== undefined) input.sequenceId = sequenceId;
    return input;
  }

  function sendJson(response: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
    response.writeHead(status, { 'Content-Type': contentType, 'Access-Control-Allow-Origin': '*' });
    response.end(`${JSON.stringify(body)}\n`);
  }

  async function handle(request: IncomingMessage, response: ServerResponse, body: Buffer, url: URL): Promise<number> {
    const method = request.method ?? 'GET';
    const path = url.pathname;
    const query = url.searchParams;
    const visitor = authenticate(request, query);

    if (method === 'GET' && path === '/v1/health') {
      sendJson(response, 200, { healthy: true }, 'text/json');
      return 200;
    }
    if (method === 'GET' && path === '/v1/version') {
      if (version !== '2.17.0') throw new NtfyHttpError(errors.notFound);
      if (visitor.kind !== 'user') throw new NtfyHttpError(errors.unauthorized);
      if (visitor.user.role !== 'admin') throw new NtfyHttpError(errors.forbidden);
      // Shape (unverified): the release notes say "returning server version".
      sendJson(response, 200, { version, commit: 'testkit', date: '2026-02-08T00:00:00Z' });
      return 200;
    }
    if ((method === 'POST' || method === 'PUT') && path === '/') {
      authorize(visitor, 'write');
      const message = publish(fromJsonBody(body));
      sendJson(response, 200, message);
      return 200;
    }
    let match = TOPIC_PATH.exec(path);
    if ((method === 'POST' || method === 'PUT') && match !== null) {
      authorize(visitor, 'write');
      const message = publish(fromHeaders(request, query, match[1] as string, body));
      sendJson(response, 200, message);
      return 200;
    }
    match = CLEAR_PATH.exec(path);
    if (supportsSequences && method === 'PUT' && match !== null) {
      authorize(visitor, 'write');
      const topic = validTopic(match[1]);
      const time = Math.floor(now() / 1000);
      const event: NtfyMessage = { id: randomId(12), time, expires: time + cacheSeconds, event: 'message_clear', topic, sequence_id: match[2] as string };
      messages.push(event);
      sendJson(response, 200, event);
      return 200;
    }
    match = SEQUENCE_PATH.exec(path);
    if (supportsSequences && match !== null && (method === 'POST' || method === 'PUT')) {
      authorize(visitor, 'write');
      const message = publish(fromHeaders(request, query, match[1] as string, body, match[2]));
      sendJson(response, 200, message);
      return 200;
    }
    if (supportsSequences && match !== null && method === 'DELETE') {
      authorize(visitor, 'write');
      const topic = validTopic(match[1]);
      const time = Math.floor(now() / 1000);
      const event: NtfyMessage = { id: randomId(12), time, expires: time + cacheSeconds, event: 'message_delete', topic, sequence_id: match[2] as string };
      messages.push(event);
      sendJson(response, 200, event);
      return 200;
    }
    match = POLL_PATH.exec(path);
    if (method === 'GET' && match !== null) {
      authorize(visitor, 'read');
      const topics = (match[1] as string).split(',');
      if (query.get('poll') !== '1' && query.get('poll') !== 'true' && query.get('poll') !== 'yes') {
        // Streaming subscriptions are not needed by the plugins under test; say so clearly.
        throw new NtfyHttpError({ code: 50001, http: 501, error: 'testkit ntfy server: only ?poll=1 subscriptions are implemented' });
      }
      const since = query.get('since') ?? 'all';
      let selected = messages.filter((message) => topics.includes(message.topic));
      if (since !== 'all') {
        const index = selected.findIndex((message) => message.id === since);
        if (index >= 0) selected = selected.slice(index + 1);
        else if (/^\d+$/.test(since)) selected = selected.filter((message) => message.time >= Number(since));
        else throw new NtfyHttpError({ code: 40008, http: 400, error: 'invalid since parameter' });
      }
      response.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=utf-8', 'Access-Control-Allow-Origin': '*' });
      response.end(selected.map((message) => `${JSON.stringify(message)}\n`).join(''));
      return 200;
    }
    throw new NtfyHttpError(errors.notFound);
  }

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const url = new URL(request.url ?? '/', 'http://127.0.0.1');
        const record: RecordedNtfyRequest = {
          method: request.method ?? 'GET',
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: { ...request.headers },
          body,
          status: 0,
        };
        requests.push(record);
        const delay = delays.shift();
        if (delay !== undefined) await new Promise((resolve) => setTimeout(resolve, delay));
        if (drops > 0) {
          drops -= 1;
          request.socket.destroy();
          return;
        }
        const failure = failures.shift();
        if (failure !== undefined) {
          record.status = failure.status;
          sendJson(
            response,
            failure.status,
            failure.status >= 500 ? { ...errors.internal, http: failure.status } : { code: failure.status * 100 + 1, http: failure.status, error: 'injected failure' },
          );
          return;
        }
        try {
          record.status = await handle(request, response, body, url);
        } catch (error) {
          const body = error instanceof NtfyHttpError ? error.body : errors.internal;
          const message = error instanceof NtfyHttpError ? error.message : body.error;
          record.status = body.http;
          if (!response.headersSent) sendJson(response, body.http, { ...body, error: message });
        }
      })();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: baseUrl,
    version,
    messages,
    requests,
    messagesFor: (topic) => messages.filter((message) => message.topic === topic),
    failNext(status, times = 1) {
      failures = [...failures, ...Array.from({ length: times }, () => ({ status }))];
    },
    dropNext(times = 1) {
      drops += times;
    },
    delayNext(milliseconds, times = 1) {
      delays = [...delays, ...Array.from({ length: times }, () => milliseconds)];
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
