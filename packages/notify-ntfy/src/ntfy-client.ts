// The HTTP side of the ntfy notifier: requests, publishing with size fallbacks, error details, version probing.
import { FishError, FishErrorCode, describeError, errorMessage, httpRequest, truncateUtf8, type Logger } from '@fish-sre/core';
import { fitPlain, parseVersion } from './ntfy-text.js';

/** What ntfy answers to a publish (the subset used). */
export interface PublishedMessage {
  id: string;
  time?: number;
  event?: string;
  topic?: string;
  sequence_id?: string;
}

export interface PublishBody {
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

/** ntfy's JSON body limit is 2x the message limit (8192 by default); stay under it. */
const JSON_BODY_LIMIT = 8000;
export const SCOPE = 'ntfy';

export interface NtfyClientOptions {
  server: string;
  serverForHumans: string;
  authorization: string | undefined;
  fetch: typeof globalThis.fetch;
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
  sleep: ((milliseconds: number, signal?: AbortSignal) => Promise<void>) | undefined;
  redact: (text: string) => string;
  logger: Logger;
}

export interface NtfyClient {
  request(method: string, path: string, body: string | undefined, what: string): Promise<{ status: number; text: string }>;
  publish(body: PublishBody, what: string): Promise<PublishedMessage>;
  errorDetail(status: number, text: string): { detail: string; code?: number };
  probeVersion(): Promise<NtfyUpdateSupport>;
}

export function createNtfyClient(options: NtfyClientOptions): NtfyClient {
  const { server, serverForHumans, authorization, redact, logger } = options;
  // The topic is a secret (whoever knows it reads and posts): errors, and so logs, never name it.
  const where = `${serverForHumans}/<topic>`;

  function failure(what: string, detail: string, cause?: unknown, isRetryable = false, details: Record<string, unknown> = {}): FishError {
    return new FishError({
      code: FishErrorCode.NOTIFIER_FAILED,
      message: errorMessage(SCOPE, redact(`${what} to ${where} failed: ${detail}`)),
      cause,
      isRetryable,
      details: { server: serverForHumans, ...details },
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
      timeoutMs: options.timeoutMs,
      retries: options.retries,
      retryDelayMs: options.retryDelayMs,
      fetch: options.fetch,
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

  return { request, publish, errorDetail, probeVersion };
}
