// The ntfy notifier: its options schema and the factory that turns notices into ntfy messages.
import { z } from 'zod';
import {
  createSecretRedactor,
  describeError,
  parseOptions,
  silentLogger,
  type Logger,
  type NotificationReceipt,
  type NotifierMessage,
  type ProposalActions,
  type ProposalNotice,
  type ProposalUpdate,
  type Notifier,
} from '@fish-sre/core';
import { SCOPE, createNtfyClient, type NtfyUpdateSupport, type PublishBody } from './ntfy-client.js';
import { KIND_TAGS, PRIORITY, STATUS_TEXT, TOPIC, fitMarkdown, fitPlain, sequenceIdFor } from './ntfy-text.js';

export { sequenceIdFor } from './ntfy-text.js';
export type { NtfyUpdateSupport } from './ntfy-client.js';

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

/** The notifier plus what tests and `fish-sre doctor` may want to see. */
export interface NtfyNotifier extends Notifier {
  /** Whether updates replace the original notification (detected, cached). */
  updateSupport(): Promise<NtfyUpdateSupport>;
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

  const authorization =
    options.token !== undefined
      ? `Bearer ${options.token}`
      : options.username !== undefined
        ? `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`, 'utf8').toString('base64')}`
        : undefined;

  const client = createNtfyClient({
    server,
    serverForHumans,
    authorization,
    fetch: fetchImpl,
    timeoutMs,
    retries,
    retryDelayMs,
    sleep: options.sleep,
    redact,
    logger,
  });
  const { request, publish, errorDetail } = client;

  let versionProbe: Promise<NtfyUpdateSupport> | undefined;
  /** Learnt from a publish answer: a 2.16+ server echoes the `sequence_id` it was given. */
  let echoSupport: boolean | undefined;

  async function updateSupport(): Promise<NtfyUpdateSupport> {
    if (updateMode === 'sequence-id') return 'sequence-id';
    if (updateMode === 'new-message') return 'none';
    versionProbe ??= client.probeVersion();
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
