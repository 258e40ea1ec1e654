// What the engine benchmarks set up alike: the seed catalog, the three homelab hosts, a notifier and
// an executor that do nothing, the catalog's incident lines for homelab-day.mjs, and the event a
// source makes of one log line. Not a benchmark itself (no `.bench.mjs`): scripts/bench.mjs skips it.
import { ApprovalSigner, FishEngine, createMemoryAuditStore, loadCatalog, normaliseLevel } from '@fish-sre/core';
import { sampleToEvent } from '@fish-sre/core/internal';

/** Human text goes to stderr; stdout holds the one JSON line of figures. */
export const say = (text) => process.stderr.write(`${text}\n`);

export const catalogDir = new URL('../catalog', import.meta.url).pathname;
export const catalog = await loadCatalog(catalogDir);
export const hosts = ['penny', 'lancelot', 'galahad'];

export const noopNotifier = { specificationVersion: 'v1', name: 'noop', propose: async () => ({ id: 'n', channel: 'noop' }), notify: async () => ({ id: 'n', channel: 'noop' }) };
export const noopExecutor = { specificationVersion: 'v1', name: 'noop', hosts: () => hosts, run: async () => ({ exitCode: 0, stdout: '', stderr: '', durationMs: 0, timedOut: false }) };

/** The first match sample of every catalog pattern, as a homelab log line on one of `hosts`. */
export const incidentLines = catalog.patterns.flatMap((pattern) =>
  pattern.samples.match.slice(0, 1).map((sample) => {
    const event = sampleToEvent(sample);
    return { host: hosts.includes(event.host) ? event.host : 'penny', service: event.service, level: event.level, message: event.message };
  }),
);

/** The ObservedEvent a source makes of one parsed homelab line (`id` and `source` are the source's). */
export function logEvent(line, id, source = 'bench') {
  return {
    id,
    kind: 'log',
    source,
    time: line.time,
    host: line.host ?? 'unknown',
    service: line.service ?? 'unknown',
    level: normaliseLevel(line.level),
    message: line.message,
    labels: {},
  };
}

/**
 * An engine over the catalog (or `patterns` in its place) on the three hosts, with a memory audit
 * store, no sources, and the no-op notifier and executor unless given; any other option is passed
 * to FishEngine as it is (clock, classifier, observer, busCapacity ...).
 */
export function benchEngine({ patterns, ...options } = {}) {
  const snapshot = patterns ? { ...catalog, patterns } : catalog;
  return new FishEngine({
    catalog: () => snapshot,
    sources: [],
    audit: createMemoryAuditStore(),
    notifier: noopNotifier,
    executor: noopExecutor,
    signer: new ApprovalSigner('b'.repeat(32)),
    publicUrl: 'http://127.0.0.1:8080',
    targets: hosts,
    ...options,
  });
}
