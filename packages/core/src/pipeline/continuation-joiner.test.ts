import { describe, expect, it } from 'vitest';
import { createContinuationJoiner, isContinuation } from './continuation-joiner.js';

/** Feeds lines of one stream through a joiner and returns the joined messages. */
function join(lines: string[], options: { maxLines?: number; maxLength?: number } = {}): string[] {
  const joiner = createContinuationJoiner<number>({ now: () => 0, ...options });
  const out = lines.flatMap((line, index) => joiner.push('penny\0app', line, index));
  return [...out, ...joiner.flushAll()].map((joined) => joined.message);
}

// redis src/config.c, loadServerConfigFromString, label loaderr (7.2 and 8.0): a blank line, the
// header with REDIS_VERSION, "Reading the configuration file, at line %d", ">>> '%s'", the reason.
const REDIS_BLOCK = [
  '',
  '*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***',
  'Reading the configuration file, at line 2',
  '>>> \'rename-command FLUSHALL ""\'',
  'Bad directive or wrong number of arguments',
];

// docker-library/postgres 18 docker-entrypoint.sh, docker_error_old_databases (first lines of the block).
const PG18_BLOCK = [
  'Error: in 18+, these Docker images are configured to store database data in a',
  '       format which is compatible with "pg_ctlcluster" (specifically, using',
  '       major-version-specific directory names).  This better reflects how',
  '       PostgreSQL itself works, and how upgrades are to be performed.',
  '',
  '       Counter to that, there appears to be PostgreSQL data in:',
  '         /var/lib/postgresql/data (unused mount/volume)',
  '',
  '       The suggested container configuration for 18+ is to place a single mount',
  '       at /var/lib/postgresql which will then place PostgreSQL data in a',
];

// Go runtime (src/runtime/panic.go printpanics, signal_unix.go sigpanic, traceback.go): a nil
// dereference in main, as `go run` shows it.
const GO_PANIC = [
  'panic: runtime error: invalid memory address or nil pointer dereference',
  '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f0d6]',
  '',
  'goroutine 1 [running]:',
  'main.(*Server).Start(0x0)',
  '\t/app/server.go:42 +0x16',
  'main.main()',
  '\t/app/main.go:11 +0x1d',
  'exit status 2',
];

describe('continuation joiner', () => {
  it("joins Redis's FATAL CONFIG FILE ERROR block into one message", () => {
    expect(join(['1:M 20 Apr 2026 08:44:59.001 * Ready to accept connections', ...REDIS_BLOCK, '1:C 20 Apr 2026 08:45:01.000 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo'])).toEqual([
      '1:M 20 Apr 2026 08:44:59.001 * Ready to accept connections',
      REDIS_BLOCK.slice(1).join('\n'),
      '1:C 20 Apr 2026 08:45:01.000 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo',
    ]);
  });

  it('joins the postgres:18 entrypoint block, blank lines inside kept, and not the next log line', () => {
    const joined = join([...PG18_BLOCK, '']);
    expect(joined).toEqual([PG18_BLOCK.join('\n')]);
    expect(joined[0]).toMatch(/Error: in 18\+, these Docker images[\s\S]*\/var\/lib\/postgresql\/data \(unused mount\/volume\)/);
    expect(join([...PG18_BLOCK, 'PostgreSQL Database directory appears to contain a database; Skipping initialization'])).toHaveLength(2);
  });

  it('joins a Go panic with its goroutine trace, and a fault with its fatal error', () => {
    expect(join([...GO_PANIC, 'time="2026-04-20T08:00:00Z" level=info msg="restarting"'])).toEqual([GO_PANIC.join('\n'), 'time="2026-04-20T08:00:00Z" level=info msg="restarting"']);
    const fault = [
      'unexpected fault address 0x7f3c2a1b4000',
      'fatal error: fault',
      '[signal SIGBUS: bus error code=0x2 addr=0x7f3c2a1b4000 pc=0x55d1c3a4b2e1]',
      '',
      'goroutine 73 gp=0xc000602fc0 m=12 mp=0xc000680008 [running]:',
      'runtime.throw({0x55d1c4f1e0a2?, 0x0?})',
    ];
    expect(join(fault)).toEqual([fault.join('\n')]);
  });

  it('joins Java causes and indented frames, and the same block through docker compose logs', () => {
    const java = ['Exception in thread "main" java.lang.IllegalStateException: boom', '\tat com.example.App.main(App.java:5)', 'Caused by: java.io.IOException: disk', '\t... 1 more'];
    expect(join(java)).toEqual([java.join('\n')]);
    const compose = REDIS_BLOCK.slice(1).map((line) => `redis-1  | ${line}`);
    expect(join(compose)).toEqual([compose.join('\n')]);
  });

  it('keeps separate streams apart and ordinary lines separate', () => {
    const joiner = createContinuationJoiner<string>({ now: () => 0 });
    expect(joiner.push('a', 'panic: boom', 'a1')).toEqual([]);
    expect(joiner.push('b', '\tnot a continuation of a', 'b1')).toEqual([]);
    expect(joiner.push('a', 'goroutine 1 [running]:', 'a2')).toEqual([]);
    expect(joiner.push('a', 'next line', 'a3').map((joined) => [joined.meta, joined.message])).toEqual([['a1', 'panic: boom\ngoroutine 1 [running]:']]);
    // Every line's metadata comes back with its message (what processing the message covers), also a line cut off.
    const cutting = createContinuationJoiner<string>({ now: () => 0, maxLength: 20 });
    cutting.push('a', 'panic: boom', 'a1');
    cutting.push('b', 'INFO other stream', 'b1');
    cutting.push('a', '\tframe that is cut off', 'a2');
    expect(cutting.flushAll().map((joined) => [joined.metas, joined.message])).toEqual([
      [['a1', 'a2'], 'panic: boom'],
      [['b1'], 'INFO other stream'],
    ]);
    expect(isContinuation('INFO started', 'INFO started', 'goroutine 1 [running]:')).toBe(false);
    expect(isContinuation('INFO started', 'INFO started', 'main.main()')).toBe(false);
  });

  it('bounds a message in lines and characters, and counts what was cut', () => {
    const lines = ['panic: x', ...Array.from({ length: 10 }, (_, index) => `\tframe ${index}`)];
    const byLines = join(lines, { maxLines: 4 });
    expect(byLines[0]!.split('\n')).toHaveLength(4);
    const joiner = createContinuationJoiner<number>({ now: () => 0, maxLength: 40 });
    for (const line of lines) joiner.push('s', line, 0);
    const [only] = joiner.flushAll();
    expect(only!.message.length).toBeLessThanOrEqual(40);
    expect(joiner.stats().cutMessages).toBe(1);
  });

  it('completes a message once its stream has been idle', () => {
    let now = 0;
    const joiner = createContinuationJoiner<number>({ now: () => now });
    joiner.push('s', 'panic: x', 1);
    expect(joiner.flushIdle(0)).toEqual([]);
    now = 100;
    joiner.push('s', 'goroutine 1 [running]:', 2);
    expect(joiner.flushIdle(100)).toEqual([]);
    expect(joiner.flushIdle(101).map((joined) => joined.message)).toEqual(['panic: x\ngoroutine 1 [running]:']);
    expect(joiner.stats().pending).toBe(0);
  });
});
