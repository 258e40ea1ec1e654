import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describeError, type AuditStore, type Source } from '@fish-sre/core';

export interface LoopHealthOptions {
  sources: readonly Source[];
  audit: AuditStore;
  /** Above this event-loop delay (p99 over the last interval) the loop is not healthy. @default 5000 */
  maxEventLoopLagMs?: number;
  /** The audit store must answer a small read within this. @default 5000 */
  auditTimeoutMs?: number;
  /** Whether the engine runs (started, not stopping). */
  running: () => boolean;
}

export interface LoopHealthReport {
  healthy: boolean;
  /** Why not, in words; empty when healthy. */
  reasons: string[];
  eventLoopLagSeconds: number;
}

export interface LoopHealth {
  check(): Promise<LoopHealthReport>;
  /** The event-loop delay p99 over the last interval, in seconds (also a metric). */
  eventLoopLagSeconds(): number;
  close(): void;
}

/**
 * "Is fish doing its job?", asked by the heartbeat and the systemd watchdog before each ping, so
 * that a wedged loop stops them and the outside notices. Healthy means: the engine runs, the
 * event loop is not stalled, the audit store answers (nothing may run without it), and not every
 * source is down.
 */
export function createLoopHealth(options: LoopHealthOptions): LoopHealth {
  const maxLagMs = options.maxEventLoopLagMs ?? 5000;
  const auditTimeoutMs = options.auditTimeoutMs ?? 5000;
  const histogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  let lastLagSeconds = 0;
  const sampleLag = () => {
    // Nanoseconds; reset so each check sees the delay since the previous one.
    if (histogram.count > 0) lastLagSeconds = histogram.percentile(99) / 1e9;
    histogram.reset();
    return lastLagSeconds;
  };

  return {
    eventLoopLagSeconds: () => lastLagSeconds,
    async check() {
      const reasons: string[] = [];
      const lag = sampleLag();
      if (!options.running()) reasons.push('the loop is not running');
      if (lag * 1000 > maxLagMs) reasons.push(`the event loop stalled ${Math.round(lag * 1000)} ms`);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          options.audit.listIncidents({ limit: 1 }),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${auditTimeoutMs} ms`)), auditTimeoutMs);
          }),
        ]);
      } catch (error) {
        reasons.push(`the audit store does not answer: ${describeError(error)}`);
      } finally {
        clearTimeout(timer);
      }
      const states = options.sources.map((source) => source.health?.().state ?? 'connected');
      if (states.length > 0 && states.every((state) => state === 'down')) reasons.push('every source is down');
      return { healthy: reasons.length === 0, reasons, eventLoopLagSeconds: lag };
    },
    close: () => histogram.disable(),
  };
}
