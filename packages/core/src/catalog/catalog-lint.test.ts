import { describe, expect, it } from 'vitest';
import { autoExecAllowed, isScopedSignal, lintCatalog } from './catalog-lint.js';
import { PatternSchema, type CatalogSnapshot, type Pattern } from './catalog-schema.js';

function pattern(id: string, log: Record<string, unknown>, promote: number | null = null, extraSignals: unknown[] = []): Pattern {
  return PatternSchema.parse({
    id,
    title: id,
    required_signals: [{ id: 'line', log: { message: 'getaddrinfo ENOTFOUND \\w+', ...log } }, ...extraSignals],
    target_host: '$event_host',
    fix: { script: 'fix.sh' },
    verify: { script: 'fix.sh' },
    promote_to_autoexec_after: promote,
    samples: { match: ['getaddrinfo ENOTFOUND homepage'] },
  });
}

const catalogOf = (...patterns: Pattern[]): CatalogSnapshot => ({ patterns, scriptsDir: '/nowhere', loadedFrom: '/nowhere', loadedAt: 0, digest: 'test' });

describe('catalog lint: signal scoping', () => {
  it('a log signal is scoped by a service, host, level or label constraint that does not match every name', () => {
    expect(isScopedSignal(pattern('aa', {}).required_signals[0]!)).toBe(false);
    expect(isScopedSignal(pattern('aa', { service: 'caddy|traefik' }).required_signals[0]!)).toBe(true);
    expect(isScopedSignal(pattern('aa', { host: '^penny$' }).required_signals[0]!)).toBe(true);
    expect(isScopedSignal(pattern('aa', { level: ['error'] }).required_signals[0]!)).toBe(true);
    expect(isScopedSignal(pattern('aa', { labels: { container: '^caddy$' } }).required_signals[0]!)).toBe(true);
    // Scopes that scope nothing.
    expect(isScopedSignal(pattern('aa', { service: '.*' }).required_signals[0]!)).toBe(false);
    expect(isScopedSignal(pattern('aa', { host: '^.*$' }).required_signals[0]!)).toBe(false);
    expect(isScopedSignal(pattern('aa', { level: ['debug', 'info', 'warn', 'error', 'critical', 'unknown'] }).required_signals[0]!)).toBe(false);
    expect(isScopedSignal(pattern('aa', { labels: { job: '.*' } }).required_signals[0]!)).toBe(false);
  });

  it('an absent signal is scoped by a service or host regex that does not accept every name, and lints at its own path', () => {
    const absent = (fields: Record<string, unknown>) => pattern('ab', { service: 'x' }, 2, [{ id: 'quiet', absent: { for: '1h', ...fields } }]);
    expect(isScopedSignal(absent({ service: '^restic' }).required_signals[1]!)).toBe(true);
    expect(isScopedSignal(absent({ service: '.*', host: '^nas$' }).required_signals[1]!)).toBe(true);
    const everything = absent({ service: '.*' });
    expect(isScopedSignal(everything.required_signals[1]!)).toBe(false);
    expect(autoExecAllowed(everything)).toBe(false);
    expect(lintCatalog(catalogOf(everything))).toMatchObject([{ severity: 'error', patternId: 'ab', path: 'required_signals[1].absent' }]);
  });

  it('metric and alert signals are not free text: scoped', () => {
    const metric = pattern('mm', { service: 'x' }, 2, [
      { id: 'disk', metric: { query: 'up', op: '<', threshold: 1 } },
      { id: 'alert', alert: { alertname: 'HostDown' } },
    ]);
    expect(metric.required_signals.slice(1).every(isScopedSignal)).toBe(true);
    expect(autoExecAllowed(metric)).toBe(true);
  });

  it('warns on unscoped signals, and makes auto-exec on one an error (never allowed)', () => {
    const warnOnly = pattern('warn-only', {});
    const refused = pattern('refused', {}, 3);
    const fine = pattern('fine', { service: 'uptime-kuma' }, 3);
    const findings = lintCatalog(catalogOf(warnOnly, refused, fine));
    expect(findings.map((finding) => [finding.severity, finding.patternId, finding.path])).toEqual([
      ['warning', 'warn-only', 'required_signals[0].log'],
      ['error', 'refused', 'required_signals[0].log'],
    ]);
    expect(autoExecAllowed(refused)).toBe(false);
    expect(autoExecAllowed(fine)).toBe(true);
    expect(autoExecAllowed(warnOnly)).toBe(false);
  });
});
