// The Alertmanager webhook receiver: its options schema, the bearer-checked HTTP handler and the alert queue.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { BoundedQueue, errorMessage, formatZodIssues, parseOptions, silentLogger, systemClock, type Clock, type Logger, type ObservedEvent, type SourceHealth } from '@fish-sre/core';
import { AlertmanagerWebhookSchema, alertToEvent } from './alertmanager-webhook.js';

export { AlertmanagerWebhookSchema, alertToEvent, type AlertmanagerWebhook } from './alertmanager-webhook.js';

export const SCOPE = 'alertmanager';

export const AlertmanagerReceiverOptionsSchema = z
  .object({
    /** Token Alertmanager sends (`http_config.authorization.credentials`). Required: the receiver fails closed. */
    bearerToken: z.string().min(16, 'use a random token of at least 16 characters'),
    /** Largest accepted request body. @default 1 MiB */
    maxBodyBytes: z.number().int().min(1024).default(1_048_576),
    /** Alerts held until the pipeline reads them; when full, Alertmanager gets 503 and retries. @default 1000 */
    bufferSize: z.number().int().min(1).default(1000),
    /** Address the standalone listener binds. */
    listen: z
      .object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65_535).default(9095) })
      .strict()
      .optional(),
  })
  .strict();
export type AlertmanagerReceiverConfig = z.input<typeof AlertmanagerReceiverOptionsSchema>;

export interface AlertmanagerReceiverOptions extends AlertmanagerReceiverConfig {
  /** @default 'alertmanager' */
  name?: string;
  logger?: Logger;
  clock?: Clock;
}

export interface AlertmanagerReceiver {
  /** A plain node:http handler; mount it wherever Alertmanager posts. */
  handler(request: IncomingMessage, response: ServerResponse): void;
  /** Starts a standalone HTTP server with the handler. */
  listen(address?: { host?: string; port?: number }): Promise<{ url: string; port: number; close(): Promise<void> }>;
  /** Received alerts, as events, until the signal aborts (one consumer at a time). */
  events(signal: AbortSignal): AsyncGenerator<ObservedEvent>;
  health(): SourceHealth;
}

function parseConfig(options: AlertmanagerReceiverOptions) {
  const { name: _name, logger: _logger, clock: _clock, ...config } = options;
  return parseOptions(AlertmanagerReceiverOptionsSchema, config, SCOPE);
}

/**
 * Receives Alertmanager webhooks (bearer-token protected) and hands each alert on as an event.
 * Answers 5xx when it cannot keep an alert (so Alertmanager retries) and 4xx for requests that
 * will never be right (bad token, malformed payload).
 */
export function createAlertmanagerReceiver(options: AlertmanagerReceiverOptions): AlertmanagerReceiver {
  const config = parseConfig(options);
  const name = options.name ?? 'alertmanager';
  const logger = (options.logger ?? silentLogger).child({ source: name });
  const clock = options.clock ?? systemClock;
  const expected = createHash('sha256').update(`Bearer ${config.bearerToken}`).digest();
  const queue = new BoundedQueue<ObservedEvent>(config.bufferSize);
  const counters: Record<string, number> = {
    requests: 0,
    webhooks_accepted: 0,
    alerts_received: 0,
    events_emitted: 0,
    unauthorized: 0,
    invalid_payloads: 0,
    too_large: 0,
    rejected_buffer_full: 0,
    truncated_alerts: 0,
  };
  let listening = false;
  let consumers = 0;

  const reply = (response: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    if (response.headersSent) return;
    response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
    response.end(JSON.stringify(body));
  };

  const handler = (request: IncomingMessage, response: ServerResponse) => {
    counters.requests!++;
    if (request.method !== 'POST') {
      reply(response, 405, { status: 'error', error: 'only POST: this is an Alertmanager webhook receiver' }, { Allow: 'POST' });
      request.resume();
      return;
    }
    const presented = createHash('sha256')
      .update(request.headers.authorization ?? '')
      .digest();
    if (!timingSafeEqual(presented, expected)) {
      counters.unauthorized!++;
      logger.warn('webhook refused: missing or wrong bearer token', { remote: request.socket.remoteAddress });
      reply(response, 401, { status: 'error', error: 'missing or wrong bearer token' }, { 'WWW-Authenticate': 'Bearer' });
      request.resume();
      return;
    }
    const declared = Number(request.headers['content-length'] ?? '0');
    if (declared > config.maxBodyBytes) {
      counters.too_large!++;
      reply(response, 413, { status: 'error', error: `body larger than ${config.maxBodyBytes} bytes` }, { Connection: 'close' });
      request.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    request.on('data', (chunk: Buffer) => {
      if (aborted) return;
      size += chunk.length;
      if (size > config.maxBodyBytes) {
        aborted = true;
        counters.too_large!++;
        reply(response, 413, { status: 'error', error: `body larger than ${config.maxBodyBytes} bytes` }, { Connection: 'close' });
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('error', () => undefined);
    request.on('end', () => {
      if (aborted) return;
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        counters.invalid_payloads!++;
        reply(response, 400, { status: 'error', error: `invalid Alertmanager webhook: body is not JSON (${(error as Error).message})` });
        return;
      }
      const parsed = AlertmanagerWebhookSchema.safeParse(json);
      if (!parsed.success) {
        counters.invalid_payloads!++;
        const message = `invalid Alertmanager webhook: ${formatZodIssues(parsed.error.issues)}`;
        logger.warn(errorMessage(SCOPE, message));
        reply(response, 400, { status: 'error', error: message });
        return;
      }
      const webhook = parsed.data;
      if (!queue.hasRoomFor(webhook.alerts.length)) {
        // Transient: Alertmanager retries 5xx, and the pipeline will have read some by then.
        counters.rejected_buffer_full!++;
        logger.warn(errorMessage(SCOPE, `event buffer full (${queue.size}/${config.bufferSize}); answered 503 so Alertmanager retries`));
        reply(response, 503, { status: 'error', error: 'event buffer full, retry later' }, { 'Retry-After': '5' });
        return;
      }
      const now = clock.now();
      for (const alert of webhook.alerts) queue.push(alertToEvent(webhook, alert, name, now));
      counters.webhooks_accepted!++;
      counters.alerts_received! += webhook.alerts.length;
      counters.truncated_alerts! += webhook.truncatedAlerts ?? 0;
      reply(response, 200, { status: 'success' });
    });
  };

  return {
    handler,
    async listen(address = {}) {
      const host = address.host ?? config.listen?.host ?? '127.0.0.1';
      const port = address.port ?? config.listen?.port ?? 9095;
      const server: Server = createServer(handler);
      server.requestTimeout = 30_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      listening = true;
      const bound = server.address() as AddressInfo;
      const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
      return {
        url: `http://${shownHost}:${bound.port}`,
        port: bound.port,
        close: async () => {
          listening = false;
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    },
    async *events(signal: AbortSignal) {
      consumers++;
      try {
        while (!signal.aborted) {
          const event = queue.shift();
          if (event === undefined) {
            await queue.waitForItem(signal);
            continue;
          }
          counters.events_emitted!++;
          yield event;
        }
      } finally {
        consumers--;
      }
    },
    health: () => ({
      state: listening || consumers > 0 ? 'connected' : 'down',
      detail: `${listening || consumers > 0 ? 'receiving' : 'not listening'}; ${queue.size} of ${config.bufferSize} alerts buffered`,
      counters: { ...counters },
    }),
  };
}
