/** The comparison operators a metric signal may use. */
export type MetricOperator = '>' | '>=' | '<' | '<=' | '==' | '!=';

/**
 * The one comparison of a metric value against a signal's threshold, used by the matcher, the
 * engine and the Prometheus source alike. A NaN value never satisfies any operator, `!=`
 * included, as in a Prometheus alert rule: a series that cannot be computed is not evidence.
 */
export function compareMetric(op: MetricOperator | string, value: number, threshold: number): boolean {
  if (Number.isNaN(value)) return false;
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
    default:
      return false;
  }
}
