/**
 * The exact journalctl options that run without asking. journalctl (getopt_long) accepts any
 * unique prefix of a long option, so a rule written as "every flag except --rotate, --flush..."
 * lets `--rot`, `--flu` or `--cursor-file=/any/path` (which writes a file) through. Here each
 * option is matched whole against a list, with its value checked; anything not listed asks.
 */

const UNIT = /^[A-Za-z0-9@._:\\-]{1,128}$/;
const COUNT = /^\d{1,6}$/;
const LEVEL = '(?:emerg|alert|crit|err|warning|notice|info|debug|[0-7])';
const PRIORITY = new RegExp(`^${LEVEL}(?:\\.\\.${LEVEL})?$`);
const TIME = /^[0-9A-Za-z :.+-]{1,40}$/;
const BOOT = /^(?:-?\d{1,3}|[0-9a-f]{32}(?:[+-]\d{1,3})?)$/;
const OUTPUT = /^(?:short|short-full|short-iso|short-iso-precise|short-precise|short-monotonic|short-unix|with-unit|cat|json|json-pretty|verbose)$/;
const PATTERN = /^[^\0\n]{1,256}$/;

/** Options that take a value (as `--long=value`, `--long value` or `-s value`). */
const WITH_VALUE: Record<string, RegExp> = {
  '-u': UNIT,
  '--unit': UNIT,
  '-t': UNIT,
  '--identifier': UNIT,
  '-n': COUNT,
  '--lines': COUNT,
  '-p': PRIORITY,
  '--priority': PRIORITY,
  '-S': TIME,
  '--since': TIME,
  '-U': TIME,
  '--until': TIME,
  '-o': OUTPUT,
  '--output': OUTPUT,
  '-g': PATTERN,
  '--grep': PATTERN,
};

/** Options without a value. */
const BARE = new Set([
  '--no-pager',
  '-k',
  '--dmesg',
  '-x',
  '--catalog',
  '-r',
  '--reverse',
  '-q',
  '--quiet',
  '--utc',
  '--no-hostname',
  '--list-boots',
  '--disk-usage',
  '-a',
  '--all',
  '--system',
  '--no-full',
  '--case-sensitive',
]);

/** A journal match (`_SYSTEMD_UNIT=x`, `_PID=1`) or an executable path. */
const MATCH = /^(?:[A-Z0-9_]{1,64}=[^\0\n]{0,128}|\/[A-Za-z0-9._/-]{1,200}|\+)$/;

export function isReadOnlyJournalctl(rest: readonly string[]): boolean {
  for (let index = 0; index < rest.length; index++) {
    const argument = rest[index] as string;
    if (BARE.has(argument)) continue;
    if (argument === '-b' || argument === '--boot') {
      // An optional boot id or offset in the next word.
      const next = rest[index + 1];
      if (next !== undefined && BOOT.test(next)) index += 1;
      continue;
    }
    const equals = argument.startsWith('--') ? argument.indexOf('=') : -1;
    if (equals > 0) {
      const name = argument.slice(0, equals);
      const value = argument.slice(equals + 1);
      if (name === '--boot' ? BOOT.test(value) : WITH_VALUE[name]?.test(value) === true) continue;
      return false;
    }
    const rule = Object.hasOwn(WITH_VALUE, argument) ? WITH_VALUE[argument] : undefined;
    if (rule !== undefined) {
      const value = rest[index + 1];
      if (value === undefined || !rule.test(value)) return false;
      index += 1;
      continue;
    }
    if (!argument.startsWith('-') && MATCH.test(argument)) continue;
    return false;
  }
  return true;
}
