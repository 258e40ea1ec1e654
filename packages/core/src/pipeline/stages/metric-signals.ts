import type { CatalogSnapshot, Pattern } from '../../catalog/catalog-schema.js';
import type { ObservedEvent } from '../../contracts/observed-event.js';
import { compareMetric, type MetricOperator } from '../metric-compare.js';

interface MetricEntry {
  pattern: Pattern;
  signalId: string;
  op: MetricOperator;
  threshold: number;
  forMs: number;
}

/** The patterns whose metric signals hold for one sample, with the signals that hold. */
export interface MetricHit {
  pattern: Pattern;
  signalIds: string[];
}

/**
 * The one place where metric observations are compared with the catalog's metric signals:
 * core's `compareMetric` on the threshold (NaN never holds), and `for:` decided once, by the
 * duration the source measured (`event.metric.heldForMs`: the Prometheus source reports a series
 * once per episode, when its condition has held for the signal's `for:`). Nothing here waits
 * again, so the first episode a source reports opens the incident.
 */
export class MetricSignals {
  private readonly index = new Map<string, MetricEntry[]>();

  constructor(catalog: Pick<CatalogSnapshot, 'patterns'>) {
    for (const pattern of catalog.patterns) {
      for (const signal of pattern.required_signals) {
        if (!signal.metric) continue;
        const list = this.index.get(signal.metric.query) ?? [];
        list.push({ pattern, signalId: signal.id, op: signal.metric.op, threshold: signal.metric.threshold, forMs: signal.metric.for });
        this.index.set(signal.metric.query, list);
      }
    }
  }

  /** The patterns this observation is evidence for. */
  hits(event: ObservedEvent): MetricHit[] {
    const metric = event.metric;
    const entries = metric ? this.index.get(metric.name) : undefined;
    if (!metric || !entries) return [];
    const heldForMs = metric.heldForMs ?? 0;
    const hits = new Map<Pattern, string[]>();
    for (const entry of entries) {
      if (!compareMetric(entry.op, metric.value, entry.threshold) || heldForMs < entry.forMs) continue;
      hits.set(entry.pattern, [...(hits.get(entry.pattern) ?? []), entry.signalId]);
    }
    return [...hits].map(([pattern, signalIds]) => ({ pattern, signalIds }));
  }
}
