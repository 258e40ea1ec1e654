import { describe, expect, it } from 'vitest';
import { alertEvent, logEvent, makePattern, metricEvent } from '../test-support/fixtures.js';
import type { ObservedEvent } from '../contracts/observed-event.js';
import { Matcher, checkCatalogSamples, compareMetric, compileLinearRegex, sampleToEvent } from './matcher.js';

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
    const matcher = new Matcher({
      patterns: [makePattern({ id: 'pp', required_signals: [{ id: 's', log: { message: 'fail', level: ['error', 'critical'], service: '^(sonarr|radarr)$', host: '^penny$' } }] })],
    });
    expect(ids(matcher, logEvent({ message: 'fail', level: 'error', service: 'sonarr', host: 'penny' }))).toEqual(['pp:s']);
    expect(ids(matcher, logEvent({ message: 'fail', level: 'critical', service: 'radarr', host: 'penny' }))).toEqual(['pp:s']);
    expect(ids(matcher, logEvent({ message: 'fail', level: 'warn', service: 'sonarr', host: 'penny' }))).toEqual([]);
    expect(ids(matcher, logEvent({ message: 'fail', level: 'error', service: 'lidarr', host: 'penny' }))).toEqual([]);
    expect(ids(matcher, logEvent({ message: 'fail', level: 'error', service: 'sonarr', host: 'penny2' }))).toEqual([]);
  });

  it('matches service and host names without regard to case (a container named Sonarr, a host PENNY), message text as written', () => {
    const matcher = new Matcher({
      patterns: [makePattern({ id: 'pp', required_signals: [{ id: 's', log: { message: 'fail', service: '^(sonarr|radarr)$', host: '^penny$' } }] })],
    });
    expect(ids(matcher, logEvent({ message: 'fail', service: 'Sonarr', host: 'PENNY' }))).toEqual(['pp:s']);
    expect(ids(matcher, logEvent({ message: 'fail', service: 'RADARR', host: 'Penny' }))).toEqual(['pp:s']);
    expect(ids(matcher, logEvent({ message: 'FAIL', service: 'sonarr', host: 'penny' }))).toEqual([]);
    expect(ids(matcher, logEvent({ message: 'fail', service: 'Lidarr', host: 'penny' }))).toEqual([]);
  });

  it('does not match a log signal on a metric or alert event with the same text', () => {
    const matcher = new Matcher({ patterns: [makePattern({ id: 'pp', required_signals: [{ id: 's', log: { message: 'disk' } }] })] });
    expect(ids(matcher, metricEvent('disk', 99))).toEqual([]);
    expect(ids(matcher, { ...alertEvent('disk', 'firing'), message: 'disk' })).toEqual([]);
  });

  it('reports every signal of a pattern one event satisfies', () => {
    const matcher = new Matcher({
      patterns: [
        makePattern({
          id: 'pp',
          required_signals: [
            { id: 'a', log: { message: 'db' } },
            { id: 'b', log: { message: 'timeout' } },
            { id: 'c', log: { message: 'nope' } },
          ],
        }),
      ],
    });
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
    const pattern = makePattern({
      id: 'pp',
      required_signals: [
        { id: 'a', log: { message: 'a' } },
        { id: 'b', log: { message: 'b' } },
        { id: 'c', log: { message: 'c' } },
        { id: 'd', log: { message: 'd' } },
      ],
    });
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
    const pattern = makePattern({
      id: 'mm',
      required_signals: [{ id: 'm', metric: { query: 'disk', op: '>', threshold: 90 } }],
      samples: { match: [{ message: 'disk', metric: { name: 'disk', value: 95 } }], no_match: [{ message: 'disk', metric: { name: 'disk', value: 50 } }] },
    });
    expect(checkCatalogSamples({ patterns: [pattern] }).failures).toEqual([]);
  });
});

describe('Matcher: linear time, prefiltered', () => {
  it('runs every catalog regex on the linear-time engine', () => {
    expect(compileLinearRegex('^(a+)+$').engine).toBe('re2');
    // A backtracking engine would explore 2^262144 ways to split the a's before failing.
    const matcher = new Matcher({ patterns: [makePattern({ id: 'evil', required_signals: [{ id: 's', log: { message: '^(a+)+$' } }], samples: { match: ['aaa'] } })] }, { maxMessageLength: 300_000 });
    expect(ids(matcher, logEvent({ message: `${'a'.repeat(256 * 1024)}!` }))).toEqual([]);
    expect(ids(matcher, logEvent({ message: 'a'.repeat(256 * 1024) }))).toEqual(['evil:s']);
  });

  it('runs only the regexes of signals whose literals the line contains, whatever the catalog size', () => {
    const patterns = Array.from({ length: 500 }, (_, index) =>
      makePattern({
        id: `generated-${index}`,
        required_signals: [{ id: 's', log: { message: `component${index} failed: (timeout|refused) after \\d+ ms` } }],
        samples: { match: [`component${index} failed: timeout after 5 ms`] },
      }),
    );
    const matcher = new Matcher({ patterns });
    expect(ids(matcher, logEvent({ message: 'GET /index.html 200 in 3 ms' }))).toEqual([]);
    expect(matcher.stats().regexRuns).toBe(0);
    expect(ids(matcher, logEvent({ message: 'component417 failed: refused after 12 ms' }))).toEqual(['generated-417:s']);
    expect(matcher.stats().regexRuns).toBe(1);
    expect(matcher.stats()).toMatchObject({ unindexedSignals: 0 });
  });

  it('keeps catalog order when a line holds the literals of many signals at once', () => {
    // More candidates than the in-place insertion sort handles; the literal order in the line is the reverse of the catalog's.
    const patterns = Array.from({ length: 40 }, (_, index) =>
      makePattern({ id: `p${index}`, required_signals: [{ id: 's', log: { message: `word${String(index).padStart(2, '0')}x` } }], samples: { match: [`word${String(index).padStart(2, '0')}x`] } }),
    );
    const matcher = new Matcher({ patterns });
    const line = Array.from({ length: 40 }, (_, index) => `word${String(39 - index).padStart(2, '0')}x`).join(' ');
    expect(ids(matcher, logEvent({ message: line }))).toEqual(patterns.map((pattern) => `${pattern.id}:s`));
    expect(ids(matcher, logEvent({ message: 'word07x and word03x' }))).toEqual(['p3:s', 'p7:s']);
    expect(ids(matcher, logEvent({ message: 'nothing here' }))).toEqual([]);
  });

  it('still tries signals with no usable literal on every line in their scope', () => {
    const matcher = new Matcher({
      patterns: [makePattern({ id: 'digits', required_signals: [{ id: 's', log: { message: '^\\d+$', service: '^counter$' } }], samples: { match: [{ message: '42', service: 'counter' }] } })],
    });
    expect(matcher.stats().unindexedSignals).toBe(1);
    expect(ids(matcher, logEvent({ message: '12345', service: 'counter' }))).toEqual(['digits:s']);
    expect(ids(matcher, logEvent({ message: '12345', service: 'other' }))).toEqual([]);
  });

  it('cuts messages to maxMessageLength before matching, and counts it', () => {
    const matcher = new Matcher({ patterns: [makePattern({ id: 'tail', required_signals: [{ id: 's', log: { message: 'disk full' } }] })] }, { maxMessageLength: 1000 });
    expect(ids(matcher, logEvent({ message: `disk full ${'x'.repeat(995)}` }))).toEqual(['tail:s']);
    expect(matcher.stats().truncated).toBe(1);
    expect(ids(matcher, logEvent({ message: `${'x'.repeat(995)} disk full` }))).toEqual([]);
    expect(matcher.stats().truncated).toBe(2);
    expect(ids(matcher, logEvent({ message: 'disk full' }))).toEqual(['tail:s']);
    expect(matcher.stats().truncated).toBe(2);
  });

  it('agrees with JavaScript regexes on the catalog-like patterns, case folding included', () => {
    const sources = ['[Ss]napshots?\\b.*Permission denied \\(os error 13\\)', '(unrecognized|unknown) directive: rate_limit\\b', "GF_PATHS_DATA='[^']*' is not writable\\."];
    const patterns = sources.map((message, index) => makePattern({ id: `p${index}`, required_signals: [{ id: 's', log: { message, ignore_case: index === 1 } }] }));
    const matcher = new Matcher({ patterns });
    const lines = [
      'Failed to create snapshot: Permission denied (os error 13)',
      'SNAPSHOT x Permission denied (os error 13)',
      'UNKNOWN DIRECTIVE: RATE_LIMIT',
      'unknown directive: rate_limits',
      "GF_PATHS_DATA='/var/lib/grafana' is not writable.",
      "gf_paths_data='/x' is not writable.",
    ];
    for (const line of lines) {
      const expected = sources.flatMap((source, index) => (new RegExp(source, index === 1 ? 'iu' : 'u').test(line) ? [`p${index}:s`] : []));
      expect(ids(matcher, logEvent({ message: line })), line).toEqual(expected);
    }
  });
});

describe('Matcher: followed_by (multi-line signals)', () => {
  const pattern = makePattern({
    id: 'redis-bad-config',
    required_signals: [
      { id: 'block', log: { message: '^\\*\\*\\* FATAL CONFIG FILE ERROR \\(Redis [0-9.]+\\) \\*\\*\\*$', service: 'redis', followed_by: { message: "^>>> 'rename-command ", within: '2s' } } },
    ],
    samples: {
      match: [{ message: '*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***', service: 'redis', followed_by: ['Reading the configuration file, at line 2', '>>> \'rename-command FLUSHALL ""\''] }],
    },
  });
  const line = (message: string, time: number, fields: Partial<ObservedEvent> = {}) => logEvent({ message, time, service: 'redis', host: 'penny', ...fields });

  it('matches the later line of the same stream within the span, once', () => {
    const matcher = new Matcher({ patterns: [pattern] });
    expect(ids(matcher, line('*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***', 1000))).toEqual([]);
    expect(ids(matcher, line('Reading the configuration file, at line 2', 1001))).toEqual([]);
    expect(ids(matcher, line('>>> \'rename-command FLUSHALL ""\'', 1002))).toEqual(['redis-bad-config:block']);
    expect(ids(matcher, line('>>> \'rename-command FLUSHALL ""\'', 1003))).toEqual([]);
  });

  it('does not match across streams, after the span, or without the first line', () => {
    const matcher = new Matcher({ patterns: [pattern] });
    expect(ids(matcher, line('>>> \'rename-command CONFIG ""\'', 500))).toEqual([]);
    matcher.match(line('*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***', 1000));
    expect(ids(matcher, line('>>> \'rename-command CONFIG ""\'', 1001, { host: 'lancelot' }))).toEqual([]);
    expect(ids(matcher, line('>>> \'rename-command CONFIG ""\'', 1001, { service: 'redis-2' }))).toEqual([]);
    expect(ids(matcher, line('>>> \'rename-command CONFIG ""\'', 3001))).toEqual([]);
  });

  it('checks multi-line samples line by line (checkCatalogSamples)', () => {
    expect(checkCatalogSamples({ patterns: [pattern] }).failures).toEqual([]);
    const broken = {
      ...pattern,
      samples: { match: [{ message: '*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***', service: 'redis', followed_by: 'Bad directive or wrong number of arguments' }], no_match: [] },
    };
    expect(checkCatalogSamples({ patterns: [broken] }).failures).toHaveLength(1);
  });
});

describe('Matcher: metric for:', () => {
  it('matches a metric signal with for: only when the source reports the condition held that long', () => {
    const matcher = new Matcher({ patterns: [makePattern({ id: 'pp', required_signals: [{ id: 'm', metric: { query: 'apt_upgrades_pending', op: '>', threshold: 0, for: '24h' } }] })] });
    const held = (heldForMs: number | undefined, value = 3) => ({
      ...metricEvent('apt_upgrades_pending', value),
      metric: { name: 'apt_upgrades_pending', value, ...(heldForMs === undefined ? {} : { heldForMs }) },
    });
    expect(ids(matcher, held(86_400_000))).toEqual(['pp:m']);
    expect(ids(matcher, held(86_399_999))).toEqual([]);
    expect(ids(matcher, held(undefined))).toEqual([]);
    expect(ids(matcher, held(86_400_000, Number.NaN))).toEqual([]);
    expect(compareMetric('!=', Number.NaN, 0)).toBe(false);
  });
});
