// TEMPORARY: the deterministic matcher lands in @fish-sre/core (pipeline/matcher.ts); this file
// goes away as soon as it does. It implements the schema's documented semantics only:
// confidence = matched required signals / required signals, fires at >= min_confidence.
import type { CatalogSample, Pattern, Signal } from '@fish-sre/core';

export interface SampleEvent {
  kind: 'log' | 'metric' | 'alert';
  message: string;
  host: string;
  service: string;
  level: string;
  labels: Record<string, string>;
  metric?: { name: string; value: number };
}

export function sampleToEvent(sample: CatalogSample): SampleEvent {
  if (typeof sample === 'string') return { kind: 'log', message: sample, host: 'unknown', service: 'unknown', level: 'unknown', labels: {} };
  return {
    kind: sample.kind ?? (sample.metric ? 'metric' : 'log'),
    message: sample.message,
    host: sample.host ?? 'unknown',
    service: sample.service ?? 'unknown',
    level: sample.level ?? 'unknown',
    labels: sample.labels ?? {},
    ...(sample.metric ? { metric: sample.metric } : {}),
  };
}

function compare(value: number, op: string, threshold: number): boolean {
  switch (op) {
    case '>': return value > threshold;
    case '>=': return value >= threshold;
    case '<': return value < threshold;
    case '<=': return value <= threshold;
    case '==': return value === threshold;
    case '!=': return value !== threshold;
    default: return false;
  }
}

export function signalMatches(signal: Signal, event: SampleEvent): boolean {
  if (signal.log) {
    if (event.kind !== 'log') return false;
    const log = signal.log;
    if (!new RegExp(log.message, log.ignore_case ? 'iu' : 'u').test(event.message)) return false;
    if (log.level && !log.level.includes(event.level as never)) return false;
    if (log.service !== undefined && !new RegExp(log.service, 'u').test(event.service)) return false;
    if (log.host !== undefined && !new RegExp(log.host, 'u').test(event.host)) return false;
    return Object.entries(log.labels).every(([name, regex]) => event.labels[name] !== undefined && new RegExp(regex, 'u').test(event.labels[name]!));
  }
  if (signal.metric) {
    return event.kind === 'metric' && event.metric?.name === signal.metric.query && compare(event.metric.value, signal.metric.op, signal.metric.threshold);
  }
  if (signal.alert) {
    const alert = signal.alert;
    return event.kind === 'alert' && event.labels.alertname === alert.alertname
      && Object.entries(alert.labels).every(([name, regex]) => event.labels[name] !== undefined && new RegExp(regex, 'u').test(event.labels[name]!));
  }
  return false;
}

export function confidence(pattern: Pattern, event: SampleEvent): number {
  const matched = pattern.required_signals.filter((signal) => signalMatches(signal, event)).length;
  return matched / pattern.required_signals.length;
}

export function patternMatches(pattern: Pattern, event: SampleEvent): boolean {
  return confidence(pattern, event) >= pattern.min_confidence;
}
