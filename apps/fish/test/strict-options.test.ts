import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const CLI = resolve(import.meta.dirname, '../dist/cli.js');
const CATALOG = resolve(import.meta.dirname, '../../../catalog');

async function configWith(notifier: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'fish-strict-'));
  const file = join(directory, 'fish.yaml');
  await writeFile(
    file,
    `catalog: ${CATALOG}
dataDir: ${join(directory, 'state')}
approval:
  publicUrl: https://fish.example.ts.net
  secret: "${'s'.repeat(40)}"
  listen: { port: 0 }
sources:
  - type: file
    options: { path: ${join(directory, 'events.jsonl')} }
notifier:
${notifier}
executor:
  type: local
  options: { scriptsDir: ${join(CATALOG, 'scripts')}, sandboxDir: ${directory} }
audit: { type: memory }
`,
  );
  return file;
}

async function run(file: string): Promise<{ code: number; stderr: string }> {
  return promisify(execFile)(process.execPath, [CLI, 'run', '--config', file], { timeout: 30_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );
}

// A misspelt option must never be ignored: `tokn:` would leave an ntfy topic unauthenticated.
describe('plugin options are strict', () => {
  it('a misspelt ntfy option stops start-up, naming the config path and the option meant', async () => {
    const file = await configWith('  type: ntfy\n  options: { topic: fish-alerts, server: "http://127.0.0.1:9", tokn: tk_AbCdEfGhIjKlMnOpQrStUvWxYz123 }');
    const result = await run(file);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('notifier.options.tokn: unknown option "tokn" (did you mean "token"?)');
    // The value is a secret: it is not echoed back.
    expect(result.stderr).not.toContain('tk_AbCdEfGhIjKlMnOpQrStUvWxYz123');
  }, 40_000);

  it('a misspelt file source option (`startat`) stops start-up instead of replaying the whole file', async () => {
    const file = await configWith('  type: terminal');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace(/options: \{ path: ([^}]+) \}/, 'options: { path: $1, startat: end }'));
    const result = await run(file);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('sources[0].options.startat: unknown option "startat" (did you mean "startAt"?)');
  }, 40_000);
});
