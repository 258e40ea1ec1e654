// The Alertmanager receiver as a fish Source: listens on its configured address and yields the received alerts.
import { FishError, FishErrorCode, errorMessage, silentLogger, sleep, type Source, type SourceHealth } from '@fish-sre/core';
import { SCOPE, createAlertmanagerReceiver, type AlertmanagerReceiverOptions } from './alertmanager-receiver.js';

export interface AlertmanagerSource extends Source {
  /** Starts listening (idempotent); `events()` and `check()` call it. */
  start(): Promise<{ url: string; port: number }>;
  /** Where Alertmanager must post, once started. */
  url(): string | undefined;
  health(): SourceHealth;
  close(): Promise<void>;
}

/** The receiver as a Source: listens on `listen.host:listen.port` and yields the received alerts. */
export function createAlertmanagerSource(options: AlertmanagerReceiverOptions): AlertmanagerSource {
  const receiver = createAlertmanagerReceiver(options);
  const name = options.name ?? 'alertmanager';
  const closing = new AbortController();
  let started: Promise<{ url: string; port: number; close(): Promise<void> }> | undefined;
  let address: string | undefined;
  let closed = false;
  let listenError: string | undefined;
  const logger = (options.logger ?? silentLogger).child({ source: name });
  const start = async () => {
    if (closed) throw new FishError({ code: FishErrorCode.PLUGIN_DISPOSED, message: errorMessage(SCOPE, 'the receiver was closed') });
    started ??= receiver.listen().then((server) => {
      address = server.url;
      return server;
    });
    started.catch(() => {
      started = undefined;
    });
    const server = await started;
    return { url: server.url, port: server.port };
  };
  return {
    specificationVersion: 'v1',
    name,
    start,
    url: () => address,
    async *events(signal: AbortSignal) {
      if (signal.aborted || closing.signal.aborted) return;
      const session = AbortSignal.any([signal, closing.signal]);
      // Listening can fail (address in use): report it in health and try again, never throw.
      while (!session.aborted) {
        try {
          await start();
          listenError = undefined;
          break;
        } catch (error) {
          listenError = `cannot listen for Alertmanager webhooks: ${(error as Error).message}; retrying in 5 s`;
          logger.error(errorMessage(SCOPE, listenError));
          await sleep(5000, session);
        }
      }
      if (session.aborted) return;
      yield* receiver.events(session);
    },
    health: () => {
      const health = receiver.health();
      return address && !closed
        ? { ...health, state: 'connected' as const, detail: `listening on ${address}; ${health.detail?.split('; ')[1] ?? ''}` }
        : { ...health, state: 'down' as const, detail: closed ? 'closed' : (listenError ?? 'not listening yet') };
    },
    async check() {
      try {
        const { url } = await start();
        return { ok: true, detail: `listening for Alertmanager webhooks on ${url}` };
      } catch (error) {
        return { ok: false, detail: `cannot listen for Alertmanager webhooks: ${(error as Error).message}` };
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      closing.abort();
      const server = await started?.catch(() => undefined);
      await server?.close();
    },
  };
}
