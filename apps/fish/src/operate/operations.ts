import { describeError, type AuditStore, type Logger, type Source } from '@fish-sre/core';
import { createHeartbeat, type Heartbeat } from './heartbeat.js';
import { createLoopHealth, type LoopHealth } from './loop-health.js';
import { createSystemdNotify, type SystemdNotify } from './systemd-notify.js';

export interface OperationsOptions {
  sources: readonly Source[];
  audit: AuditStore;
  logger: Logger;
  running: () => boolean;
  heartbeat?: { url: string; failUrl?: string; method: 'GET' | 'POST'; interval: number; timeout: number } | undefined;
  /** `process.env`: NOTIFY_SOCKET and WATCHDOG_USEC come from systemd. */
  env: NodeJS.ProcessEnv;
}

export interface Operations {
  health: LoopHealth;
  heartbeat?: Heartbeat;
  systemd?: SystemdNotify;
  /** After the loop started: READY=1, then the watchdog and the heartbeat. */
  started(status: string): Promise<void>;
  stop(): Promise<void>;
}

/** The loop's own liveness signals: the heartbeat URL and the systemd watchdog. */
export function createOperations(options: OperationsOptions): Operations {
  const health = createLoopHealth({ sources: options.sources, audit: options.audit, running: options.running });
  const heartbeat = options.heartbeat
    ? createHeartbeat({
        url: options.heartbeat.url,
        ...(options.heartbeat.failUrl ? { failUrl: options.heartbeat.failUrl } : {}),
        method: options.heartbeat.method,
        intervalMs: options.heartbeat.interval,
        timeoutMs: options.heartbeat.timeout,
        health,
        logger: options.logger.child({ component: 'heartbeat' }),
      })
    : undefined;
  let systemd: SystemdNotify | undefined;
  const socketPath = options.env['NOTIFY_SOCKET'];
  if (socketPath) {
    try {
      const watchdogUsec = Number(options.env['WATCHDOG_USEC']);
      systemd = createSystemdNotify({ socketPath, ...(Number.isFinite(watchdogUsec) && watchdogUsec > 0 ? { watchdogUsec } : {}), health, logger: options.logger.child({ component: 'systemd' }) });
    } catch (error) {
      options.logger.error(`systemd asked for notifications but fish cannot send them (no watchdog, and Type=notify will time out): ${describeError(error)}`);
    }
  }
  return {
    health,
    ...(heartbeat ? { heartbeat } : {}),
    ...(systemd ? { systemd } : {}),
    async started(status) {
      if (systemd) {
        await systemd.ready(status).catch((error: unknown) => options.logger.error(`sd_notify READY failed: ${describeError(error)}`));
        systemd.startWatchdog();
      }
      heartbeat?.start();
    },
    async stop() {
      await systemd?.stopping().catch(() => undefined);
      await heartbeat?.stop();
      await systemd?.close();
      health.close();
    },
  };
}
