// The metric signals of the catalog as distinct conditions, their keys, and the comparison they use.
import type { CatalogSnapshot } from '@fish-sre/core';
import { compareMetric, type MetricOperator } from '@fish-sre/core/internal';

/**
 * The condition of a metric signal on one sample: core's `compareMetric`, the one comparison the
 * matcher and the engine use too (a NaN sample never satisfies any operator, `!=` included).
 */
export function compare(value: number, op: MetricOperator, threshold: number): boolean {
  return compareMetric(op, value, threshold);
}

export interface MetricCondition {
  query: string;
  op: MetricOperator;
  threshold: number;
  forMs: number;
}

export const conditionKey = (condition: MetricCondition) => `${condition.query}\u0000${condition.op}\u0000${condition.threshold}\u0000${condition.forMs}`;
export const labelsKey = (labels: Record<string, string>) =>
  JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((key) => [key, labels[key]]),
  );

/** Collects the distinct metric signals of the catalog. */
export function metricConditions(catalog: Pick<CatalogSnapshot, 'patterns'>): MetricCondition[] {
  const conditions = new Map<string, MetricCondition>();
  for (const pattern of catalog.patterns) {
    for (const signal of pattern.required_signals) {
      if (!signal.metric) continue;
      const condition = { query: signal.metric.query, op: signal.metric.op, threshold: signal.metric.threshold, forMs: signal.metric.for };
      conditions.set(conditionKey(condition), condition);
    }
  }
  return [...conditions.values()];
}
