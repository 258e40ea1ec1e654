import { EventLevel } from '../contracts/observed-event.js';
import type { CatalogSnapshot, Pattern, Signal } from './catalog-schema.js';

/**
 * One lint finding. `error` findings make `fish-sre catalog validate` fail and make the engine
 * refuse auto-exec for the pattern; `warning` findings are printed.
 */
export interface CatalogLintFinding {
  severity: 'warning' | 'error';
  patternId: string;
  /** Dotted path of the field, e.g. `required_signals[0].log`. */
  path: string;
  message: string;
}

/**
 * Service and host names a scoping regex must not all match: if it matches every one of these
 * (and the empty string), it scopes nothing.
 */
const ARBITRARY_NAMES = ['', 'x', 'web-app-7f3a', 'visitor-typed-name', 'Some.Host.example'];

function matchesEverything(source: string): boolean {
  try {
    const regex = new RegExp(source, 'u');
    return ARBITRARY_NAMES.every((name) => regex.test(name));
  } catch {
    return false;
  }
}

/**
 * True when a log signal says which events it applies to (service, host, level, or stream label),
 * rather than matching a message from anything that logs. Messages are what an application logs,
 * often with text a visitor chose; the service, host, level and labels come from the log stream.
 * Metric and alert signals are not free text, so they count as scoped.
 */
export function isScopedSignal(signal: Signal): boolean {
  // An `absent` signal fires on silence: anyone who can make a matching service log once, then
  // stop, can start it; it is scoped when its service or host regex does not accept every name.
  const absent = signal.absent;
  if (absent) return !matchesEverything(absent.service) || (absent.host !== undefined && !matchesEverything(absent.host));
  const log = signal.log;
  if (!log) return true;
  if (log.service !== undefined && !matchesEverything(log.service)) return true;
  if (log.host !== undefined && !matchesEverything(log.host)) return true;
  if (log.level !== undefined && !EventLevel.options.every((level) => log.level?.includes(level))) return true;
  return Object.values(log.labels).some((source) => !matchesEverything(source));
}

/** The unscoped log signals of a pattern, with their paths. */
export function unscopedSignals(pattern: Pattern): Array<{ path: string; signal: Signal }> {
  return pattern.required_signals.flatMap((signal, index) => (isScopedSignal(signal) ? [] : [{ path: `required_signals[${index}].${signal.absent ? 'absent' : 'log'}`, signal }]));
}

/**
 * May this pattern ever run without a human? Only when it asks for promotion and every log signal
 * is scoped: otherwise anyone who can make any service log the matching text could trigger an
 * unattended run.
 */
export function autoExecAllowed(pattern: Pattern): boolean {
  return pattern.promote_to_autoexec_after !== null && unscopedSignals(pattern).length === 0;
}

/** Lints a loaded catalog: unscoped signals (warning), and auto-exec on unscoped signals (error). */
export function lintCatalog(catalog: CatalogSnapshot): CatalogLintFinding[] {
  const findings: CatalogLintFinding[] = [];
  for (const pattern of catalog.patterns) {
    for (const { path, signal } of unscopedSignals(pattern)) {
      const autoExec = pattern.promote_to_autoexec_after !== null;
      findings.push({
        severity: autoExec ? 'error' : 'warning',
        patternId: pattern.id,
        path,
        message: autoExec
          ? `signal "${signal.id}" matches its message from any service, host and level, and promote_to_autoexec_after is set: any application logging that text could trigger an unattended run; scope it (service, host, level or labels) or remove promote_to_autoexec_after`
          : `signal "${signal.id}" matches its message from any service, host and level (any application that logs this text, for example with words a visitor typed, can trigger it); scope it with service, host, level or labels`,
      });
    }
  }
  return findings;
}
