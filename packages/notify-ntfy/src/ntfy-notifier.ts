import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  FishError,
  FishErrorCode,
  createSecretRedactor,
  describeError,
  errorMessage,
  httpRequest,
  parseOptions,
  truncateUtf8,
  silentLogger,
  type Logger,
  type NotificationPriority,
  type NotificationReceipt,
  type Notifier,
  type NotifierMessage,
  type ProposalActions,
  type ProposalNotice,
  type ProposalUpdate,
  type ProposalUpdateStatus,
} from '@fish-sre/core';

const TOPIC = /^[-_A-Za-z0-9]{1,64}$/;
const Priority = z.enum(['min', 'low', 'default', 'high', 'urgent']);

/** Options of the ntfy notifier, as written in a config file. */
export const NtfyNotifierOptionsSchema = z
  .strictObject({
    /** ntfy.sh or a self-hosted server. @default 'https://ntfy.sh' */
    server: z.url({ protocol: /^https?$/ }).default('https://ntfy.sh'),
    /** Must match `^[-_A-Za-z0-9]{1,64}$`; on ntfy.sh anyone who knows it can read it: make it long. */
    topic: z.string().regex(TOPIC, 'a topic is 1-64 characters of A-Z a-z 0-9 _ -'),
    /** Access token (`tk_...`), sent as `Authorization: Bearer`. */
    token: z.string().min(1).optional(),
    /** Basic auth, instead of a token. */
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /** Per request. @default 10000 */
    timeoutMs: z.number().int().positive().optional(),
    /** Extra attempts after a 5xx answer, a 429, a timeout or a network error. @default 2 */
    retries: z.number().int().min(0).max(10).optional(),
    /** First back-off delay; doubles each attempt (a `Retry-After` answer wins). @default 500 */
    retryDelayMs: z.number().int().min(0).optional(),
    /** Priority of a proposal. @default 'high' */
    proposalPriority: Priority.optional(),
    /** Tags (emoji shortcodes) of a proposal. @default ['fish', 'wrench'] */
    proposalTags: z.array(z.string()).optional(),
    /**
     * How `update` treats the proposal's notification. `auto` replaces it in place when the server
     * supports sequence ids (ntfy >= 2.16, detected), else posts a new message.
     * @default 'auto'
     */
    updateMode: z.enum(['auto', 'sequence-id', 'new-message']).optional(),
    /** Updates with these statuses also dismiss (clear) the notification, where supported. @default ['denied', 'expired'] */
    clearOn: z.array(z.enum(['approved', 'denied', 'expired', 'succeeded', 'failed', 'rolled_back', 'escalated', 'interrupted'])).optional(),
    /**
     * The message budget in UTF-8 bytes. ntfy turns a message over its `message-size-limit`
     * (4096 by default) into an attachment, or refuses it when attachments are off.
     * @default 3900
     */
    maxMessageBytes: z.number().int().min(512).max(4096).optional(),
  })
  .refine((options) => !(options.token !== undefined && options.username !== undefined), { message: 'give either token or username/password, not both' });

/** Options of `createNtfyNotifier`: the config plus injectable I/O. */
export type NtfyNotifierOptions = z.input<typeof NtfyNotifierOptionsSchema> & {
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  logger?: Logger;
  /** Instance name. @default 'ntfy' */
  name?: string;
  /** Waits between retries; injectable so tests need not sleep. */
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
};

/** What ntfy answers to a publish (the subset used). */
interface PublishedMessage {
  id: string;
  time?: number;
  event?: string;
  topic?: string;
  sequence_id?: string;
}

interface PublishBody {
  topic: string;
  message: string;
  title?: string;
  priority?: number;
  tags?: string[];
  markdown?: boolean;
  click?: string;
  actions?: Array<Record<string, unknown>>;
  sequence_id?: string;
}

export type NtfyUpdateSupport = 'sequence-id' | 'none' | 'unknown';

/** The notifier plus what tests and `fish-sre doctor` may want to see. */
export interface NtfyNotifier extends Notifier {
  /** Whether updates replace the original notification (detected, cached). */
  updateSupport(): Promise<NtfyUpdateSupport>;
}

const PRIORITY: Record<NotificationPriority, number> = { min: 1, low: 2, default: 3, high: 4, urgent: 5 };
/** ntfy's JSON body limit is 2x the message limit (8192 by default); stay under it. */
const JSON_BODY_LIMIT = 8000;
const SCOPE = 'ntfy';

const STATUS_TEXT: Record<ProposalUpdateStatus, { label: string; tag: string; priority: NotificationPriority }> = {
  approved: { label: 'Approved', tag: 'white_check_mark', priority: 'default' },
  denied: { label: 'Denied', tag: 'no_entry_sign', priority: 'low' },
  expired: { label: 'Expired', tag: 'hourglass', priority: 'low' },
  succeeded: { label: 'Fixed', tag: 'heavy_check_mark', priority: 'default' },
  failed: { label: 'Fix failed', tag: 'x', priority: 'high' },
  rolled_back: { label: 'Rolled back', tag: 'leftwards_arrow_with_hook', priority: 'high' },
  escalated: { label: 'Escalated', tag: 'rotating_light', priority: 'urgent' },
  interrupted: { label: 'Interrupted', tag: 'warning', priority: 'high' },
};

const KIND_TAGS: Record<NotifierMessage['kind'], string> = {
  escalation: 'rotating_light',
  'unknown-incident': 'grey_question',
  budget: 'moneybag',
  info: 'information_source',
};

/** A sequence id ntfy accepts (`[-_A-Za-z0-9]{1,64}`) derived from a proposal id, collision-free. */
export function sequenceIdFor(proposalId: string): string {
  const direct = `fish-${proposalId}`;
  if (TOPIC.test(direct)) return direct;
  return `fish-${createHash('sha256').update(proposalId, 'utf8').digest('hex').slice(0, 40)}`;
}

function parseVersion(text: string): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  return match === null ? undefined : [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Where the message budget goes: the important parts first, evidence shortened before anything else. */
function fitMarkdown(parts: { head: string; summary: string; evidence: string[]; tail: string }, maxBytes: number): string {
  const fence = (lines: string[]) => (lines.length === 0 ? '' : `\n\n**Evidence**\n~~~\n${lines.join('\n')}\n~~~`);
  const compose = (summary: string, evidence: string[]) => `${parts.head}\n\n${summary}${fence(evidence)}${parts.tail}`;
  const safeEvidence = parts.evidence.map((line) => line.replace(/~~~/g, '~ ~ ~'));
  let text = compose(parts.summary, safeEvidence);
  if (Buffer.byteLength(text) <= maxBytes) return text;
  // 1. fewer, shorter evidence lines
  let evidence = safeEvidence.slice(0, 5).map((line) => (line.length > 200 ? `${truncateUtf8(line, 200)}…` : line));
  if (evidence.length < safeEvidence.length) evidence.push(`… ${safeEvidence.length - evidence.length} more line(s) on the details page`);
  text = compose(parts.summary, evidence);
  if (Buffer.byteLength(text) <= maxBytes) return text;
  // 2. a shorter summary
  const note = '\n\n_(shortened: open Details for the full text)_';
  const room = maxBytes - Buffer.byteLength(compose('', evidence)) - Buffer.byteLength(note) - 3;
  if (room > 200) return compose(`${truncateUtf8(parts.summary, room)}…${note}`, evidence);
  // 3. no evidence, then a hard cut
  const bare = maxBytes - Buffer.byteLength(compose('', [])) - Buffer.byteLength(note) - 3;
  if (bare > 0) return compose(`${truncateUtf8(parts.summary, bare)}…${note}`, []);
  return truncateUtf8(compose('', []), maxBytes);
}

function fitPlain(body: string, maxBytes: number): string {
  if (Buffer.byteLength(body) <= maxBytes) return body;
  const note = '\n\n_(shortened)_';
  return `${truncateUtf8(body, maxBytes - Buffer.byteLength(note) - 3)}…${note}`;
}

export function createNtfyNotifier(input: NtfyNotifierOptions): NtfyNotifier {
  const { fetch: givenFetch, logger: givenLogger, name, sleep: givenSleep, ...config } = input;
  const options = { ...parseOptions(NtfyNotifierOptionsSchema, config, SCOPE), fetch: givenFetch, logger: givenLogger, name, sleep: givenSleep };
  const server = (options.server ?? 'https://ntfy.sh').replace(/\/+$/, '');
  const topic = options.topic;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retries = options.retries ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const updateMode = options.updateMode ?? 'auto';
  const clearOn = new Set(options.clearOn ?? ['denied', 'expired']);
  const maxMessageBytes = Math.min(options.maxMessageBytes ?? 3900, 4096);
  const logger = (options.logger ?? silentLogger).child({ plugin: 'ntfy' });
  const secrets = [options.token, options.password].filter((value): value is string => typeof value === 'string' && value !== '');
  const redact = createSecretRedactor(secrets);
  // Never print credentials embedded in the server URL.
  const serverForHumans = server.replace(/\/\/[^@/]*@/, '//');
  const where = `${serverForHumans}/${topic}`;

  const authorization =
    options.token !== undefined
      ? `Bearer ${options.token}`
      : options.username !== undefined
        ? `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`, 'utf8').toString('base64')}`
        : undefined;

  let versionProbe: Promise<NtfyUpdateSupport> | undefined;
  /** Learnt from a publish answer: a 2.16+ server echoes the `sequence_id` it was given. */
  let echoSupport: boolean | undefined;

  function failure(what: string, detail: string, cause?: unknown, isRetryable = false, details: Record<string, unknown> = {}): FishError {
    return new FishError({
      code: FishErrorCode.NOTIFIER_FAILED,
      message: errorMessage(SCOPE, redact(`${what} to ${where} failed: ${detail}`)),
      cause,
      isRetryable,
      details: { server: serverForHumans, topic, ...details },
    });
  }

  /** One call to the server; the retry rules (5xx, 429 with `Retry-After`, timeouts) are core's. */
  async function request(method: string, path: string, body: string | undefined, what: string): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (authorization !== undefined) headers.Authorization = authorization;
    return httpRequest({
      url: `${server}${path}`,
      method,
      headers,
      ...(body === undefined ? {} : { body }),
      scope: SCOPE,
      what: `${what} to ${where}`,
      errorCode: FishErrorCode.NOTIFIER_FAILED,
      timeoutMs,
      retries,
      retryDelayMs,
      fetch: fetchImpl,
      ...(options.sleep ? { sleep: options.sleep } : {}),
      redact,
      onRetry: (retry) => logger.warn(retry.status === undefined ? 'ntfy request failed, retrying' : 'ntfy answered a server error, retrying', { ...retry }),
    });
  }

  function errorDetail(status: number, text: string): { detail: string; code?: number } {
    try {
      const parsed = JSON.parse(text) as { code?: number; error?: string };
      if (typeof parsed.error === 'string') return { detail: `HTTP ${status} (ntfy ${parsed.code ?? '?'}: ${parsed.error})`, code: parsed.code };
    } catch {
      // not JSON: a proxy's page, say
    }
    return { detail: `HTTP ${status}${text.trim() === '' ? '' : `: ${truncateUtf8(text.trim(), 200)}`}` };
  }

  async function publish(body: PublishBody, what: string): Promise<PublishedMessage> {
    let payload = body;
    for (let shrink = 0; ; shrink += 1) {
      // Keep the whole JSON under ntfy's body cap (escaping can double a message's size).
      let json = JSON.stringify(payload);
      while (Buffer.byteLength(json) > JSON_BODY_LIMIT && payload.message.length > 100) {
        payload = { ...payload, message: fitPlain(payload.message, Math.floor(Buffer.byteLength(payload.message) * 0.7)) };
        json = JSON.stringify(payload);
      }
      const { status, text } = await request('POST', '/', json, what);
      if (status >= 200 && status < 300) {
        try {
          const parsed = JSON.parse(text) as PublishedMessage;
          if (typeof parsed.id !== 'string') throw new Error('no id in the answer');
          return parsed;
        } catch (error) {
          throw failure(what, `the answer is not an ntfy message (${describeError(error)})`, error);
        }
      }
      const { detail, code } = errorDetail(status, text);
      // 40014 "attachments not allowed" / 41303 "JSON body too large": the server's limit is
      // smaller than ours. Never fail a publish for length: shorten hard and try once more.
      if ((code === 40014 || code === 41303 || status === 413) && shrink === 0) {
        logger.warn('ntfy refused the message size, sending a shortened one', { status, code });
        payload = { ...payload, message: fitPlain(payload.message, 1000) };
        continue;
      }
      throw failure(what, detail, undefined, status === 429 || status >= 500, { status, ntfyCode: code });
    }
  }

  async function probeVersion(): Promise<NtfyUpdateSupport> {
    try {
      const { status, text } = await request('GET', '/v1/version', undefined, 'version check');
      if (status === 200) {
        const version = parseVersion((JSON.parse(text) as { version?: string }).version ?? '');
        if (version !== undefined) return version[0] > 2 || (version[0] === 2 && version[1] >= 16) ? 'sequence-id' : 'none';
      }
      // /v1/version exists from v2.17 and is admin-only: a 401/403 still proves >= 2.17.
      if (status === 401 || status === 403) return 'sequence-id';
      return 'unknown';
    } catch {
      return 'unknown';
    }
  }

  async function updateSupport(): Promise<NtfyUpdateSupport> {
    if (updateMode === 'sequence-id') return 'sequence-id';
    if (updateMode === 'new-message') return 'none';
    versionProbe ??= probeVersion();
    const probed = await versionProbe;
    if (probed !== 'unknown') return probed;
    if (echoSupport === undefined) return 'unknown';
    return echoSupport ? 'sequence-id' : 'none';
  }

  const notifier: NtfyNotifier = {
    specificationVersion: 'v1',
    name: options.name ?? 'ntfy',
    updateSupport,

    async propose(notice: ProposalNotice, actions: ProposalActions): Promise<NotificationReceipt> {
      const percent = Math.round(Math.max(0, Math.min(1, notice.confidence)) * 100);
      const dryRun = notice.dryRun ? '**DRY RUN**: nothing will run on the host.\n\n' : '';
      const head = `${dryRun}**${notice.service}** on **${notice.host}** · pattern \`${notice.patternId}\`\nConfidence: **${percent}%** (matched signals / required signals)`;
      const tail = `\n\nExpires ${notice.expiresAt}. Approve runs the catalog fix once.`;
      const message = fitMarkdown({ head: redact(head), summary: redact(notice.summary), evidence: notice.evidence.map((line) => redact(line)), tail }, maxMessageBytes);
      const tags = [...(options.proposalTags ?? ['fish', 'wrench'])];
      if (notice.dryRun) tags.push('test_tube');
      const sequenceId = updateMode === 'new-message' ? undefined : sequenceIdFor(notice.proposalId);
      const body: PublishBody = {
        topic,
        title: redact(`${notice.dryRun ? '[dry run] ' : ''}Fix proposed: ${notice.title} (${notice.host})`),
        message,
        priority: PRIORITY[options.proposalPriority ?? 'high'],
        tags,
        markdown: true,
        click: actions.viewUrl,
        // ntfy allows 3 actions. The phone makes the http request itself: the URL carries the
        // signed single-use token, so no secret header is needed (headers are readable by
        // anyone who can read the topic).
        actions: [
          { action: 'http', label: 'Approve', url: actions.approveUrl, method: 'POST', clear: true },
          { action: 'http', label: 'Deny', url: actions.denyUrl, method: 'POST', clear: true },
          { action: 'view', label: 'Details', url: actions.viewUrl, clear: false },
        ],
      };
      if (sequenceId !== undefined) body.sequence_id = sequenceId;
      const published = await publish(body, `proposal ${notice.proposalId}`);
      if (sequenceId !== undefined) echoSupport = published.sequence_id === sequenceId;
      logger.info('proposal published', { proposalId: notice.proposalId, messageId: published.id, sequenceId: published.sequence_id });
      return { id: published.sequence_id === sequenceId && sequenceId !== undefined ? sequenceId : published.id, channel: 'ntfy' };
    },

    async update(update: ProposalUpdate): Promise<NotificationReceipt> {
      const text = STATUS_TEXT[update.status];
      const detail = redact(update.detail);
      const by = update.actor === undefined ? '' : `\nBy ${redact(update.actor)}.`;
      const body: PublishBody = {
        topic,
        title: `${text.label}: proposal ${update.proposalId}`,
        message: fitPlain(`${detail}${by}`, maxMessageBytes),
        priority: PRIORITY[text.priority],
        tags: ['fish', text.tag],
        markdown: true,
      };
      // Unless the server is known to be older than 2.16, publish with the proposal's sequence id:
      // a 2.16+ server replaces the notification (and its Approve/Deny buttons) in place; an
      // older one ignores the field and shows a new message, which is the fallback we want anyway.
      const support = await updateSupport();
      const sequenceId = support === 'none' ? undefined : (update.receipt?.id ?? sequenceIdFor(update.proposalId));
      if (sequenceId !== undefined) body.sequence_id = sequenceId;
      const published = await publish(body, `update of proposal ${update.proposalId}`);
      const replaced = sequenceId !== undefined && published.sequence_id === sequenceId;
      if (sequenceId !== undefined && updateMode === 'auto') echoSupport = replaced;
      if (replaced && clearOn.has(update.status)) {
        const { status, text: answer } = await request('PUT', `/${topic}/${encodeURIComponent(sequenceId)}/clear`, undefined, `clear of proposal ${update.proposalId}`);
        if (status < 200 || status >= 300) logger.warn('ntfy did not clear the notification', { status, detail: errorDetail(status, answer).detail });
      }
      return { id: replaced ? sequenceId : published.id, channel: 'ntfy' };
    },

    async notify(message: NotifierMessage): Promise<NotificationReceipt> {
      const tags = ['fish', KIND_TAGS[message.kind], ...(message.tags ?? [])];
      const body: PublishBody = {
        topic,
        title: redact(message.title),
        message: fitPlain(redact(message.body), maxMessageBytes),
        priority: PRIORITY[message.priority],
        tags: [...new Set(tags)],
        markdown: true,
      };
      if (message.url !== undefined) {
        body.click = message.url;
        body.actions = [{ action: 'view', label: 'Open', url: message.url, clear: false }];
      }
      const published = await publish(body, `${message.kind} notification`);
      return { id: published.id, channel: 'ntfy' };
    },

    async check() {
      try {
        const { status, text } = await request('GET', '/v1/health', undefined, 'health check');
        const healthy = status === 200 && (JSON.parse(text) as { healthy?: boolean }).healthy === true;
        const support = await updateSupport();
        return { ok: healthy, detail: healthy ? `${serverForHumans} healthy; in-place updates: ${support}` : `${serverForHumans} answered ${errorDetail(status, text).detail}` };
      } catch (error) {
        return { ok: false, detail: redact(describeError(error)) };
      }
    },
  };
  return notifier;
}
