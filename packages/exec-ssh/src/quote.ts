import { FishError, FishErrorCode, errorMessage } from '@fish-sre/core';

/**
 * POSIX single-quote quoting of an argv for an SSH exec request: `it's` becomes `'it'\''s'`, so the
 * remote login shell sees only literal words (no pipes, globs, `$()`). An empty argv or a NUL byte
 * is refused (a C string would silently end there).
 */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage('ssh', 'empty argv') });
  return argv
    .map((word) => {
      if (word.includes('\0')) throw new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage('ssh', 'argv contains a NUL byte') });
      return `'${word.replace(/'/g, `'\\''`)}'`;
    })
    .join(' ');
}
