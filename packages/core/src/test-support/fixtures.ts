/** Helpers shared by core's tests (not exported from the package). */
import type { Notifier, NotifierMessage } from '../contracts/notifier.js';
import type { ObservedEvent } from '../contracts/observed-event.js';
import { PatternSchema, type Pattern, type PatternInput } from '../catalog/catalog-schema.js';
import type { UnknownBundle, UnknownBundleWriter } from '../pipeline/stages/unknown-incidents.js';

let sequence = 0;

/** A valid pattern (through the real schema) with the given fields replaced. */
export function makePattern(overrides: Partial<PatternInput> & { id: string }): Pattern {
  return PatternSchema.parse({
    title: `Pattern ${overrides.id}`,
    target_host: 'penny',
    required_signals: [{ id: 'line', log: { message: 'boom' } }],
    fix: { script: 'fix.sh' },
    verify: { script: 'verify.sh' },
    samples: { match: ['boom'] },
    ...overrides,
  });
}

export function logEvent(fields: Partial<ObservedEvent> & { message: string }): ObservedEvent {
  sequence++;
  return { id: `ev-${sequence}`, kind: 'log', source: 'test', time: 0, host: 'penny', service: 'homepage', level: 'error', labels: {}, ...fields };
}

export function metricEvent(name: string, value: number, fields: Partial<ObservedEvent> = {}): ObservedEvent {
  sequence++;
  return { id: `m-${sequence}`, kind: 'metric', source: 'prom', time: 0, host: 'penny', service: 'node', level: 'info', message: `${name} = ${value}`, labels: {}, metric: { name, value }, ...fields };
}

export function alertEvent(alertname: string, status: 'firing' | 'resolved', labels: Record<string, string> = {}): ObservedEvent {
  sequence++;
  return {
    id: `a-${sequence}`,
    kind: 'alert',
    source: 'alertmanager',
    time: 0,
    host: 'penny',
    service: 'node',
    level: 'critical',
    message: alertname,
    labels: { alertname, ...labels },
    alertStatus: status,
  };
}

/** An UNKNOWN bundle writer that keeps bundles and drafts in memory (core does no file I/O). */
export function memoryBundleWriter(): UnknownBundleWriter & { bundles: UnknownBundle[]; drafts: Map<string, string> } {
  const bundles: UnknownBundle[] = [];
  const drafts = new Map<string, string>();
  return {
    bundles,
    drafts,
    async writeBundle(bundle) {
      bundles.push(structuredClone(bundle));
      return `memory:${bundle.incident.id}`;
    },
    async writeDraft(incidentId, yaml) {
      drafts.set(incidentId, yaml);
      return `memory:${incidentId}.draft.yaml`;
    },
  };
}

/** A notifier that records every message it sends (`sent`); proposing throws: for escalate-only patterns. */
export function recordingNotifier(): { notifier: Notifier; sent: NotifierMessage[] } {
  const sent: NotifierMessage[] = [];
  const notifier: Notifier = {
    specificationVersion: 'v1',
    name: 'recording',
    async propose() {
      throw new Error('an escalate-only pattern proposes nothing');
    },
    async update() {
      return { id: 'u', channel: 'recording' };
    },
    async notify(message) {
      sent.push(message);
      return { id: `n${sent.length}`, channel: 'recording' };
    },
  };
  return { notifier, sent };
}
