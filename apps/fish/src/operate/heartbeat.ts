import { describeError, silentLogger, sleep, type Logger } from '@fish-sre/core';
import type { LoopHealth } from './loop-health.js';

export interface HeartbeatOptions {
  /** The push URL (healthchecks.io `https://hc-ping.com/<uuid>`, Uptime Kuma `/api/push/<token>`). */
  url: string;
  /** @default 'GET' */
  method?: 'GET' | 'POST';
  /** @default 60000 */
  intervalMs: number;
  /** @default 10000 */
  timeoutMs?: number;
  /**
   * Optional URL to call instead while the loop is unhealthy (healthchecks.io `<url>/fail`), so
   * the monitor alerts at once rather than after its grace period. Without it, an unhealthy loop
   * simply stops pinging.
   */
  failUrl?: string;
  health: LoopHealth;
  fetch?: typeof globalThis.fetch;
  logger?: Logger;
  now?: () => number;
}

export interface HeartbeatState {
  /** Last successful ping, ms since the epoch. */
  lastSuccessAt?: number;
  lastAttemptAt?: number;
  lastError?: string;
  /** Whether the last ping reported a healthy loop. */
  lastHealthy?: boolean;
}

export interface Heartbeat {
  /** Pings at once, then every interval, until `stop`. */
  start(): void;
  /** One round: check health, ping (or report failure). For tests and `fish-sre doctor`. */
  beat(): Promise<void>;
  stop(): Promise<void>;
  state(): HeartbeatState;
}

/**
 * A dead-man's switch that does not depend on the box: an outside monitor expects a ping every
 * interval and alerts when none comes — a dead machine, a dead fish or a wedged loop all stop the
 * pings. The URL is a secret (whoever knows it can ping): it never goes into logs.
 */
export function createHeartbeat(options: HeartbeatOptions): Heartbeat {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const state: HeartbeatState = {};
  const abort = new AbortController();
  let loop: Promise<void> | undefined;

  async function beat(): Promise<void> {
    const report = await options.health.check();
    state.lastAttemptAt = now();
    state.lastHealthy = report.healthy;
    const url = report.healthy ? options.url : options.failUrl;
    if (!url) {
      state.lastError = `not pinged: ${report.reasons.join('; ')}`;
      logger.warn(`heartbeat withheld: ${report.reasons.join('; ')}`);
      return;
    }
    const method = options.method ?? 'GET';
    try {
      const response = await fetchImpl(url, {
        method,
        headers: { 'user-agent': 'fish-sre-heartbeat' },
        ...(method === 'POST' ? { body: report.healthy ? 'fish loop healthy' : `fish loop unhealthy: ${report.reasons.join('; ')}` } : {}),
        signal: AbortSignal.any([abort.signal, AbortSignal.timeout(options.timeoutMs ?? 10_000)]),
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`the monitor answered HTTP ${response.status}`);
      if (report.healthy) {
        state.lastSuccessAt = now();
        delete state.lastError;
      } else {
        state.lastError = `reported unhealthy: ${report.reasons.join('; ')}`;
      }
    } catch (error) {
      if (abort.signal.aborted) return;
      // describeError of a fetch failure names the host at most, never the path with the check's id.
      state.lastError = describeError(error);
      logger.warn(`heartbeat ping failed: ${state.lastError}`);
    }
  }

  return {
    beat,
    state: () => ({ ...state }),
    start() {
      if (loop) return;
      loop = (async () => {
        while (!abort.signal.aborted) {
          await beat().catch((error: unknown) => logger.error(`heartbeat: ${describeError(error)}`));
          await sleep(options.intervalMs, abort.signal);
        }
      })();
    },
    async stop() {
      abort.abort();
      await loop;
    },
  };
}
