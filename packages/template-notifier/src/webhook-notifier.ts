import { z } from 'zod';
import {
  FishErrorCode,
  createSecretRedactor,
  errorMessage,
  fit,
  httpRequest,
  parseOptions,
  type Logger,
  type NotificationReceipt,
  type Notifier,
  type NotifierMessage,
  type ProposalActions,
  type ProposalNotice,
  type ProposalUpdate,
  silentLogger,
  FishError,
} from '@fish-sre/core';

const SCOPE = 'webhook';

/** Options of the webhook notifier, as written in a config file. Strict: a misspelt key is refused. */
export const WebhookNotifierOptionsSchema = z.strictObject({
  /** Where each notification is POSTed as JSON. */
  url: z.url({ protocol: /^https?$/ }),
  /** Sent as `Authorization: Bearer <token>`; never logged, never delivered. */
  token: z.string().min(1).optional(),
  /** Longest text field, in UTF-8 bytes; longer text is cut on a character boundary. @default 4000 */
  maxTextBytes: z.number().int().min(256).max(1_000_000).default(4000),
  /** Per request. @default 10000 */
  timeoutMs: z.number().int().positive().default(10_000),
  /** Extra attempts after a 408, 429, 5xx, a timeout or a network error. @default 2 */
  retries: z.number().int().min(0).max(10).default(2),
});

/** Options of `createWebhookNotifier`: the config plus injectable I/O. */
export type WebhookNotifierOptions = z.input<typeof WebhookNotifierOptionsSchema> & {
  /** Instance name. @default 'webhook' */
  name?: string;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  logger?: Logger;
  /** Waits between retries; injectable so tests need not sleep. */
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
};

/** What the webhook receives: one JSON object per notification. */
export interface WebhookPayload {
  event: 'proposal' | 'update' | NotifierMessage['kind'];
  title: string;
  text: string;
  /** Approve / deny / view for a proposal; the message's link otherwise. */
  links: Record<string, string>;
}

/**
 * A Notifier that POSTs each notification as JSON to a webhook: the smallest complete plugin, and
 * the one to copy. Everything it sends passes the secret redactor and is cut to `maxTextBytes`.
 */
export function createWebhookNotifier(input: WebhookNotifierOptions): Notifier {
  const { name, fetch, logger: givenLogger, sleep, ...config } = input;
  const options = parseOptions(WebhookNotifierOptionsSchema, config, SCOPE);
  const logger = (givenLogger ?? silentLogger).child({ plugin: SCOPE });
  const redact = createSecretRedactor(options.token === undefined ? [] : [options.token]);
  let sent = 0;

  async function post(payload: WebhookPayload): Promise<NotificationReceipt> {
    const body = { ...payload, title: fit(redact(payload.title), options.maxTextBytes), text: fit(redact(payload.text), options.maxTextBytes) };
    const response = await httpRequest({
      url: options.url,
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` }) },
      body: JSON.stringify(body),
      scope: SCOPE,
      what: `${payload.event} notification`,
      errorCode: FishErrorCode.NOTIFIER_FAILED,
      timeoutMs: options.timeoutMs,
      retries: options.retries,
      ...(fetch ? { fetch } : {}),
      ...(sleep ? { sleep } : {}),
      redact,
      onRetry: (retry) => logger.warn('webhook: retrying', { ...retry }),
    });
    if (response.status < 200 || response.status >= 300) {
      throw new FishError({
        code: FishErrorCode.NOTIFIER_FAILED,
        message: errorMessage(SCOPE, redact(`${payload.event} notification failed: the webhook answered HTTP ${response.status}`)),
        isRetryable: response.status === 429 || response.status >= 500,
        details: { status: response.status },
      });
    }
    sent += 1;
    return { id: `webhook-${sent}`, channel: SCOPE };
  }

  return {
    specificationVersion: 'v1',
    name: name ?? SCOPE,
    propose(notice: ProposalNotice, actions: ProposalActions) {
      const dryRun = notice.dryRun ? '[dry run] nothing will run on the host.\n' : '';
      const evidence = notice.evidence.map((line) => `> ${line}`).join('\n');
      return post({
        event: 'proposal',
        title: `${notice.dryRun ? '[dry run] ' : ''}Fix proposed: ${notice.title} (${notice.host})`,
        text: `${dryRun}${notice.summary}\n\n${evidence}\n\nExpires ${notice.expiresAt}.`,
        links: { approve: actions.approveUrl, deny: actions.denyUrl, view: actions.viewUrl },
      });
    },
    update(update: ProposalUpdate) {
      return post({ event: 'update', title: `Proposal ${update.proposalId}: ${update.status}`, text: `${update.detail}${update.actor ? `\nBy ${update.actor}.` : ''}`, links: {} });
    },
    notify(message: NotifierMessage) {
      return post({ event: message.kind, title: message.title, text: message.body, links: message.url === undefined ? {} : { open: message.url } });
    },
  };
}
