import type { Catalog, Pattern } from '../../catalog/catalog-schema.js';
import type { ObservedEvent } from '../../contracts/observed-event.js';
import { SustainedCondition } from '../sliding-window.js';

/** How a metric signal compares a sample to its threshold. */
export const METRIC_COMPARE: Record<string, (value: number, threshold: number) => boolean> = {
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '==': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};

interface MetricEntry {
  pattern: Pattern;
  signalId: string;
  op: string;
  threshold: number;
  forMs: number;
}

/** The patterns whose metric signals hold for one sample, with the signals that hold. */
export interface MetricHit {
  pattern: Pattern;
  signalIds: string[];
}

/**
 * The one place where metric samples are compared with the catalog's metric signals: threshold,
 * held for `for` per series (a sample that does not hold resets it, like a Prometheus rule).
 */
export class MetricSignals {
  private readonly index = new Map<string, MetricEntry[]>();
  private readonly sustained = new SustainedCondition();

  constructor(catalog: Catalog) {
    for (const pattern of catalog.patterns) {
      for (const signal of pattern.required_signals) {
        if (!signal.metric) continue;
        const list = this.index.get(signal.metric.query) ?? [];
        list.push({ pattern, signalId: signal.id, op: signal.metric.op, threshold: signal.metric.threshold, forMs: signal.metric.for });
        this.index.set(signal.metric.query, list);
      }
    }
  }

  /** The patterns this sample is evidence for now. */
  hits(event: ObservedEvent): MetricHit[] {
    const entries = event.metric ? this.index.get(event.metric.name) : undefined;
    if (!entries) return [];
    const series = Object.entries(event.labels).sort().map(([name, value]) => `${name}=${value}`).join(',');
    const hits = new Map<Pattern, string[]>();
    for (const entry of entries) {
      const holds = METRIC_COMPARE[entry.op]!(event.metric!.value, entry.threshold);
      if (this.sustained.observe(`${entry.pattern.id}\0${entry.signalId}\0${series}`, holds, event.time, entry.forMs)) {
        hits.set(entry.pattern, [...(hits.get(entry.pattern) ?? []), entry.signalId]);
      }
    }
    return [...hits].map(([pattern, signalIds]) => ({ pattern, signalIds }));
  }
}
