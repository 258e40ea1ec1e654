import { describe, expect, it } from 'vitest';
import { alertEvent, logEvent, makePattern, metricEvent } from '../test-support/fixtures.js';
import { Matcher, checkCatalogSamples, sampleToEvent } from './matcher.js';

const ids = (matcher: Matcher, event: Parameters<Matcher['match']>[0]) => matcher.match(event).map((hit) => `${hit.pattern.id}:${hit.signalIds.join('+')}`);

describe('Matcher: log signals', () => {
  it('matches the message regex, case-sensitively unless ignore_case', () => {
    const matcher = new Matcher({
      patterns: [
        makePattern({ id: 'exact', required_signals: [{ id: 'oom', log: { message: 'Out of memory: Killed process \\d+' } }] }),
        makePattern({ id: 'loose', required_signals: [{ id: 'oom', log: { message: 'out of memory', ignore_case: true } }] }),
      ],
    });
    expect(ids(matcher, logEvent({ message: 'kernel: Out of memory: Killed process 4242 (java)' }))).toEqual(['exact:oom', 'loose:oom']);
    expect(ids(matcher, logEvent({ message: 'kernel: OUT OF MEMORY' }))).toEqual(['loose:oom']);
    expect(ids(matcher, logEvent({ message: 'Out of memory: Killed process x' }))).toEqual(['loose:oom']);
    expect(ids(matcher, logEvent({ message: 'all good' }))).toEqual([]);
  });

  it('requires every label regex to match, and the label to exist', () => {
    const matcher = new Matcher({ patterns: [makePattern({ id: 'pp', required_signals: [{ id: 's', log: { message: 'exited', labels: { container: '^homepage$', compose_project: 'apps' } } }] })] });
    expect(ids(matcher, logEvent({ message: 'exited', labels: { container: 'homepage', compose_project: 'apps-prod' } }))).toEqual(['pp:s']);
    expect(ids(matcher, logEvent({ message: 'exited', labels: { container: 'homepage-2', compose_project: 'apps' } }))).toEqual([]);
    expect(ids(matcher, logEvent({ message: 'exited', labels: { container: 'homepage' } }))).toEqual([]);
  });

  it('filters on level, service and host', () => {
    const matcher = new Matcher({ patterns: [makePattern({ id: 'pp', required_signals: [{ id: 's', log: { message: 'fail', level: ['error', 'critical'], service: '^(sonarr|radarr)$', host: '^penny$' } }] })] });
    expect(ids(matcher, logEvent({ message: 'fail', level: 'error', service: 'sonarr', host: 'penny' }))).toEqual(['pp:s']);
    expect(ids(matcher, logEvent({ message: 'fail', level: 'critical', service: 'radarr', host: 'penny' }))).toEqual(['pp:s']);
    expect(ids(matcher, logEvent({ message: 'fail', level: 'warn', service: 'sonarr', host: 'penny' }))).toEqual([]);
    expect(ids(matcher, logEvent({ message: 'fail', level: 'error', service: 'lidarr', host: 'penny' }))).toEqual([]);
    expect(ids(matcher, logEvent({ message: 'fail', level: 'error', service: 'sonarr', host: 'penny2' }))).toEqual([]);
  });

  it('does not match a log signal on a metric or alert event with the same text', () => {
    const matcher = new Matcher({ patterns: [makePattern({ id: 'pp', required_signals: [{ id: 's', log: { message: 'disk' } }] })] });
    expect(ids(matcher, metricEvent('disk', 99))).toEqual([]);
    expect(ids(matcher, { ...alertEvent('disk', 'firing'), message: 'disk' })).toEqual([]);
  });

  it('reports every signal of a pattern one event satisfies', () => {
    const matcher = new Matcher({ patterns: [makePattern({ id: 'pp', required_signals: [{ id: 'a', log: { message: 'db' } }, { id: 'b', log: { message: 'timeout' } }, { id: 'c', log: { message: 'nope' } }] })] });
    expect(ids(matcher, logEvent({ message: 'db timeout' }))).toEqual(['pp:a+b']);
  });
});

describe('Matcher: metric and alert signals', () => {
  it.each([
    ['>', 90, [91], [90, 89]],
    ['>=', 90, [90, 91], [89.9]],
    ['<', 10, [9], [10, 11]],
    ['<=', 10, [10, 9], [10.1]],
    ['==', 0, [0], [1, -1]],
    ['!=', 0, [1, -1], [0]],
  ] as const)('op %s %s', (op, threshold, hits, misses) => {
    const matcher = new Matcher({ patterns: [makePattern({ id: 'pp', required_signals: [{ id: 'm', metric: { query: 'disk_used_percent', op, threshold } }] })] });
    for (const value of hits) expect(ids(matcher, metricEvent('disk_used_percent', value))).toEqual(['pp:m']);
    for (const value of misses) expect(ids(matcher, metricEvent('disk_used_percent', value))).toEqual([]);
    expect(ids(matcher, metricEvent('other_metric', hits[0]))).toEqual([]);
  });

  it('matches firing alerts by name and labels; resolved alerts never match', () => {
    const matcher = new Matcher({ patterns: [makePattern({ id: 'pp', required_signals: [{ id: 'a', alert: { alertname: 'HostDown', labels: { instance: '^penny' } } }] })] });
    expect(ids(matcher, alertEvent('HostDown', 'firing', { instance: 'penny:9100' }))).toEqual(['pp:a']);
    expect(ids(matcher, alertEvent('HostDown', 'resolved', { instance: 'penny:9100' }))).toEqual([]);
    expect(ids(matcher, alertEvent('HostDown', 'firing', { instance: 'leonard:9100' }))).toEqual([]);
    expect(ids(matcher, alertEvent('HostDownSoon', 'firing', { instance: 'penny:9100' }))).toEqual([]);
  });
});

describe('confidence', () => {
  it('is matched required signals / required signals', () => {
    const pattern = makePattern({ id: 'pp', required_signals: [{ id: 'a', log: { message: 'a' } }, { id: 'b', log: { message: 'b' } }, { id: 'c', log: { message: 'c' } }, { id: 'd', log: { message: 'd' } }] });
    expect(Matcher.confidence(pattern, [])).toBe(0);
    expect(Matcher.confidence(pattern, ['a'])).toBe(0.25);
    expect(Matcher.confidence(pattern, ['a', 'c', 'c', 'unrelated'])).toBe(0.5);
    expect(Matcher.confidence(pattern, ['a', 'b', 'c', 'd'])).toBe(1);
  });
});

describe('checkCatalogSamples', () => {
  it('passes when match samples hit and no_match samples miss', () => {
    const pattern = makePattern({
      id: 'pp',
      required_signals: [{ id: 's', log: { message: 'exited with code 137', service: 'homepage' } }],
      samples: { match: [{ message: 'container exited with code 137', service: 'homepage' }], no_match: ['container exited with code 0', { message: 'exited with code 137', service: 'other' }] },
    });
    expect(checkCatalogSamples({ patterns: [pattern] })).toEqual({ checked: 3, failures: [] });
  });

  it('reports a match sample that misses and a no_match sample that hits', () => {
    const pattern = makePattern({
      id: 'pp',
      required_signals: [{ id: 's', log: { message: 'exited with code 137' } }],
      samples: { match: ['exited with code 1'], no_match: ['exited with code 137 again'] },
    });
    const result = checkCatalogSamples({ patterns: [pattern] });
    expect(result.checked).toBe(2);
    expect(result.failures).toEqual([
      { patternId: 'pp', sample: 'exited with code 1', expected: 'match', got: 'no signal matched' },
      { patternId: 'pp', sample: 'exited with code 137 again', expected: 'no_match', got: 'matched signals s' },
    ]);
  });

  it('turns metric and alert samples into the right kind of event', () => {
    expect(sampleToEvent({ message: 'disk', metric: { name: 'disk', value: 95 } })).toMatchObject({ kind: 'metric', metric: { name: 'disk', value: 95 } });
    expect(sampleToEvent({ message: 'x', kind: 'alert', labels: { alertname: 'HostDown' } })).toMatchObject({ kind: 'alert', alertStatus: 'firing' });
    const pattern = makePattern({ id: 'mm', required_signals: [{ id: 'm', metric: { query: 'disk', op: '>', threshold: 90 } }], samples: { match: [{ message: 'disk', metric: { name: 'disk', value: 95 } }], no_match: [{ message: 'disk', metric: { name: 'disk', value: 50 } }] } });
    expect(checkCatalogSamples({ patterns: [pattern] }).failures).toEqual([]);
  });
});
