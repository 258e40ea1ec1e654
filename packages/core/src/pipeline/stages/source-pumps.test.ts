import { describe, expect, it } from 'vitest';
import { webDownEngine } from '../../test-support/web-down-engine.js';
import type { ObservedEvent } from '../../contracts/observed-event.js';
import type { Source, SourceDelivery } from '../../contracts/source.js';
import { FishError, FishErrorCode } from '../../errors.js';
import { logEvent } from '../../test-support/fixtures.js';
import type { FishEngineOptions } from '../engine.js';

/** A source that yields `script` (then waits for the abort) and records what was acknowledged. */
function scriptedSource(script: ObservedEvent[], options: { onAbort?: ObservedEvent[]; acknowledge?: boolean } = {}) {
  const acknowledged: string[] = [];
  const deliveries: Array<SourceDelivery | undefined> = [];
  const source: Source & { acknowledged: string[]; deliveries: typeof deliveries } = {
    specificationVersion: 'v1',
    name: 'scripted',
    acknowledged,
    deliveries,
    async *events(signal, delivery) {
      deliveries.push(delivery);
      yield* script;
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
      // What a joiner holds at the stop: handed on a moment after the abort.
      for (const event of options.onAbort ?? []) {
        await new Promise((resolve) => setTimeout(resolve, 30));
        yield event;
      }
    },
    ...(options.acknowledge === false
      ? {}
      : {
          acknowledge(event: ObservedEvent) {
            acknowledged.push(event.id);
          },
        }),
  };
  return source;
}

function engine(sources: Source[], overrides: Partial<FishEngineOptions> = {}) {
  return webDownEngine({ sources, stopGraceMs: 2000, ...overrides });
}

async function until(what: string, predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!predicate()) throw new Error(`timed out waiting for ${what}`);
}

describe('source pumps and acknowledgements', () => {
  it('acknowledges an event only once processed: an incident it opens must be written to the audit store first', async () => {
    const time = Date.UTC(2026, 0, 1, 9, 30);
    const quiet = logEvent({ id: 'quiet', message: 'all fine', level: 'info', time });
    const down = logEvent({ id: 'down', message: 'web down', time });
    const after = logEvent({ id: 'after', message: 'still fine', level: 'info', time });
    const source = scriptedSource([quiet, down, after]);
    const { fish, audit, notifier } = engine([source]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const insert = audit.insertIncident.bind(audit);
    audit.insertIncident = async (incident) => {
      await gate;
      return insert(incident);
    };
    // The notifier is slow too: the acknowledgement does not wait for the notification.
    let sendNotification!: () => void;
    const notifying = new Promise<void>((resolve) => (sendNotification = resolve));
    const propose = notifier.propose.bind(notifier);
    notifier.propose = async (notice, actions) => {
      await notifying;
      return propose(notice, actions);
    };
    await fish.start();
    expect(source.deliveries).toEqual([{ acknowledges: true }]);
    await until('the lines that open nothing to be acknowledged', () => source.acknowledged.length === 2);
    expect(source.acknowledged).toEqual(['quiet', 'after']);
    expect(fish.stats().events).toBe(3);
    release();
    await until('the incident line to be acknowledged', () => source.acknowledged.length === 3);
    expect(source.acknowledged).toEqual(['quiet', 'after', 'down']);
    expect((await audit.listIncidents()).map((incident) => incident.service)).toEqual(['homepage']);
    expect(notifier.sent).toHaveLength(0);
    sendNotification();
    await fish.stop();
    expect(source.acknowledged).toEqual(['quiet', 'after', 'down']);
  });

  it('does not acknowledge what never left the bus, and tells a source without acknowledge() so', async () => {
    const time = Date.UTC(2026, 0, 1, 9, 30);
    const events = Array.from({ length: 5 }, (_, index) => logEvent({ id: `e${index}`, message: 'all fine', level: 'info', time }));
    const source = scriptedSource(events);
    const plain = scriptedSource([logEvent({ id: 'plain', message: 'all fine', level: 'info', time })], { acknowledge: false });
    const { fish } = engine([source, plain], { busCapacity: 2 });
    // Nothing takes from the bus (a busy pipeline): only the pumps run.
    let endConsumer!: () => void;
    (fish as unknown as { consume: () => Promise<void> }).consume = () => new Promise<void>((resolve) => (endConsumer = resolve));
    await fish.start();
    await until('the bus to fill', () => fish.bus.stats().depth === 2);
    expect(source.acknowledged).toEqual([]);
    expect(plain.deliveries).toEqual([{ acknowledges: false }]);
    endConsumer();
    await fish.stop({ graceMs: 100 });
    expect(fish.stats().events).toBe(0);
    expect(source.acknowledged).toEqual([]);
  });

  it('on stop, waits for the sources to hand on what they hold, and processes it once before the bus closes', async () => {
    const time = Date.UTC(2026, 0, 1, 9, 30);
    const flushed = logEvent({ id: 'flushed', message: 'web down\n  at handler (server.js:12)', time });
    const source = scriptedSource([], { onAbort: [flushed] });
    const { fish, audit } = engine([source]);
    await fish.start();
    await fish.stop();
    expect(fish.stats().events).toBe(1);
    expect(fish.stats().bus).toMatchObject({ published: 1, dropped: 0 });
    expect(source.acknowledged).toEqual(['flushed']);
    expect((await audit.listIncidents()).map((incident) => incident.evidence.join('\n'))).toEqual([expect.stringContaining('server.js:12')]);
  });

  it('a source whose acknowledge() throws is reported; the loop goes on', async () => {
    const time = Date.UTC(2026, 0, 1, 9, 30);
    const source = scriptedSource([logEvent({ id: 'a', message: 'fine', level: 'info', time }), logEvent({ id: 'b', message: 'fine', level: 'info', time })]);
    source.acknowledge = (event) => {
      throw new Error(`cannot save after ${event.id}`);
    };
    const { fish } = engine([source]);
    const errors: string[] = [];
    fish.on('error', (error) => errors.push(error.message));
    await fish.start();
    await until('both events to be processed', () => fish.stats().events === 2);
    await fish.stop();
    expect(errors).toEqual([expect.stringContaining('cannot save after a'), expect.stringContaining('cannot save after b')]);
  });

  it('does not acknowledge an incident held while the audit store is unreachable, only once it is recorded', async () => {
    const time = Date.UTC(2026, 0, 1, 9, 30);
    const source = scriptedSource([logEvent({ id: 'down', message: 'web down', time }), logEvent({ id: 'quiet', message: 'all fine', level: 'info', time })]);
    const { fish, audit } = engine([source]);
    let storeUp = false;
    const insert = audit.insertIncident.bind(audit);
    audit.insertIncident = async (incident) => {
      if (!storeUp) throw new FishError({ code: FishErrorCode.AUDIT_UNREACHABLE, message: 'the store is away', isRetryable: true });
      return insert(incident);
    };
    // The hold retries every 5 s: let the test call the retry itself.
    const outage = (fish as unknown as { outage: { size: number; retryAll: () => Promise<void> } }).outage;
    await fish.start();
    await until('the incident to be held', () => outage.size === 1 && source.acknowledged.length === 1);
    // A kill now would read the held line again: it is not acknowledged.
    expect(source.acknowledged).toEqual(['quiet']);
    storeUp = true;
    await outage.retryAll();
    expect(source.acknowledged).toEqual(['quiet', 'down']);
    expect((await audit.listIncidents()).map((incident) => incident.service)).toEqual(['homepage']);
    await fish.stop();
  });
});
