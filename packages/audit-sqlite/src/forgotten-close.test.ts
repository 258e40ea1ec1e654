import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, 'forgotten-close.fixture.mjs');

/** Runs the script in its own Node; a process the store keeps alive is killed after `timeoutMs`. */
function run(mode: string, timeoutMs = 15_000): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; path: string }> {
  return mkdtemp(join(tmpdir(), 'fish-forgotten-close-')).then(
    (folder) =>
      new Promise((done) => {
        const path = join(folder, 'audit.sqlite');
        execFile(process.execPath, [SCRIPT, path, folder, mode], { cwd: import.meta.dirname, timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
          const failure = error as (Error & { code?: number; signal?: string }) | null;
          done({ code: failure ? (failure.code ?? null) : 0, signal: failure?.signal ?? null, stdout, stderr, path });
        });
      }),
  );
}

function actions(path: string): string[] {
  const database = new Database(path, { readonly: true });
  try {
    return (database.prepare('select action from audit_log order by seq').all() as Array<{ action: string }>).map((row) => row.action);
  } finally {
    database.close();
  }
}

describe('a forgotten close() does not keep the process alive', () => {
  it('a store used and never closed: the process ends by itself, and what it wrote is kept', async () => {
    const result = await run('store');
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('done store\n');
    expect(actions(result.path)).toContain('script');
  });

  it('an engine started and stopped on a store nobody closes: the process ends by itself', async () => {
    const result = await run('engine');
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('done engine\n');
    expect(actions(result.path)).toEqual(expect.arrayContaining(['script', 'started', 'stopped']));
  });
});
