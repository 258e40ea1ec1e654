import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

const VALID = `catalog: ./catalog
dataDir: ./state
approval:
  publicUrl: https://fish.example.ts.net
  secret: \${FISH_APPROVAL_SECRET}
sources:
  - type: file
    options: { path: /var/log/app.jsonl }
notifier: { type: terminal }
executor:
  type: local
  options: { scriptsDir: ./catalog/scripts, sandboxDir: /tmp }
audit: { type: sqlite, options: { path: audit.sqlite } }
`;

async function write(text: string) {
  const directory = await mkdtemp(join(tmpdir(), 'fish-config-'));
  const file = join(directory, 'fish.yaml');
  await writeFile(file, text);
  return { directory, file };
}

const SECRET = 'x'.repeat(40);

describe('loadConfig', () => {
  it('reads a valid file, resolves paths next to it and takes secrets from the environment', async () => {
    const { directory, file } = await write(VALID);
    const config = await loadConfig(file, { FISH_APPROVAL_SECRET: SECRET });
    expect(config.catalog).toEqual([join(directory, 'catalog')]);
    expect(config.dataDir).toBe(join(directory, 'state'));
    expect(config.approval.secret).toBe(SECRET);
    expect(config.approval.proposalTtl).toBe(3_600_000);
    expect(config.secrets).toContain(SECRET);
  });

  it('names the missing environment variable and the field', async () => {
    const { file } = await write(VALID);
    await expect(loadConfig(file, {})).rejects.toThrow(/approval\.secret: environment variable FISH_APPROVAL_SECRET is not set/);
  });

  it('names the path and the line of a wrong field, and what was expected', async () => {
    const { file } = await write(VALID.replace('publicUrl: https://fish.example.ts.net', 'publicUrl: not a url'));
    await expect(loadConfig(file, { FISH_APPROVAL_SECRET: SECRET })).rejects.toThrow(/fish\.yaml:4: approval\.publicUrl: expected a URL with its scheme/);
  });

  it('refuses a duration without its unit, with its line, and reads one with a unit', async () => {
    const bare = await write(VALID.replace('  secret: ${FISH_APPROVAL_SECRET}', '  secret: ${FISH_APPROVAL_SECRET}\n  proposalTtl: 3600'));
    await expect(loadConfig(bare.file, { FISH_APPROVAL_SECRET: SECRET })).rejects.toThrow(
      /fish\.yaml:6: approval\.proposalTtl: 3600 has no unit: write a duration with its unit, like "3600s" or "3600ms"/,
    );
    const withUnit = await write(VALID.replace('  secret: ${FISH_APPROVAL_SECRET}', '  secret: ${FISH_APPROVAL_SECRET}\n  proposalTtl: 30m'));
    expect((await loadConfig(withUnit.file, { FISH_APPROVAL_SECRET: SECRET })).approval.proposalTtl).toBe(1_800_000);
  });

  it('reads catalogWatch as false, true (every 2s) or { every } with a unit, and refuses a bare number or a busy loop', async () => {
    const env = { FISH_APPROVAL_SECRET: SECRET };
    const watch = async (line: string | undefined) => (await loadConfig((await write(line === undefined ? VALID : `${VALID}catalogWatch: ${line}\n`)).file, env)).catalogWatch;
    expect(await watch(undefined)).toBeNull();
    expect(await watch('false')).toBeNull();
    expect(await watch('true')).toEqual({ every: 2000 });
    expect(await watch('{ every: 10s }')).toEqual({ every: 10_000 });
    expect(await watch('{}')).toEqual({ every: 2000 });
    await expect(watch('{ every: 10 }')).rejects.toThrow(/fish\.yaml:14: catalogWatch\.every: 10 has no unit: write a duration with its unit, like "10s" or "10ms"/);
    await expect(watch('{ every: 10ms }')).rejects.toThrow(/catalogWatch\.every: look at the catalog folders at most every 100ms/);
    await expect(watch('{ evry: 10s }')).rejects.toThrow(/fish\.yaml:14: catalogWatch.*evry/);
    await expect(watch('5s')).rejects.toThrow(/fish\.yaml:14: catalogWatch: expected true, false or \{ every: <duration> \}/);
  });

  it('takes one notifier or a list in fallback order with delivery settings, and refuses both, neither or two of one name', async () => {
    const one = await loadConfig((await write(VALID)).file, { FISH_APPROVAL_SECRET: SECRET });
    expect(one.notifiers).toEqual([{ type: 'terminal', options: {} }]);
    expect(one.notifier).toEqual({ type: 'terminal', options: {} });
    expect(one.delivery).toEqual({ failoverAfterAttempts: 5, failoverAfter: 120_000, retryInitial: 2000, retryMax: 300_000, expireAfter: 86_400_000 });
    const list = VALID.replace(
      'notifier: { type: terminal }',
      'notifiers:\n  - { type: ntfy, options: { topic: t } }\n  - { type: terminal }\ndelivery: { failoverAfterAttempts: 3, failoverAfter: 30s }',
    );
    const two = await loadConfig((await write(list)).file, { FISH_APPROVAL_SECRET: SECRET });
    expect(two.notifiers.map((notifier) => notifier.type)).toEqual(['ntfy', 'terminal']);
    expect(two.notifier.type).toBe('ntfy');
    expect(two.delivery).toMatchObject({ failoverAfterAttempts: 3, failoverAfter: 30_000 });
    const both = `${VALID}notifiers: [{ type: terminal }]\n`;
    await expect(loadConfig((await write(both)).file, { FISH_APPROVAL_SECRET: SECRET })).rejects.toThrow(/fish\.yaml:\d+: notifiers: configure either `notifier` \(one\) or `notifiers`/);
    const neither = VALID.replace('notifier: { type: terminal }\n', '');
    await expect(loadConfig((await write(neither)).file, { FISH_APPROVAL_SECRET: SECRET })).rejects.toThrow(/configure either `notifier`/);
    const twice = VALID.replace('notifier: { type: terminal }', 'notifiers: [{ type: terminal }, { type: terminal }]');
    await expect(loadConfig((await write(twice)).file, { FISH_APPROVAL_SECRET: SECRET })).rejects.toThrow(/two notifiers are named "terminal"/);
    const bare = VALID.replace('notifier: { type: terminal }', 'notifier: { type: terminal }\ndelivery: { failoverAfter: 30 }');
    await expect(loadConfig((await write(bare)).file, { FISH_APPROVAL_SECRET: SECRET })).rejects.toThrow(/delivery\.failoverAfter: 30 has no unit/);
  });

  it('refuses unknown keys (a typo must not be silently ignored)', async () => {
    const { file } = await write(`${VALID}dryrun: true\n`);
    await expect(loadConfig(file, { FISH_APPROVAL_SECRET: SECRET })).rejects.toThrow(/unknown option "dryrun" \(did you mean "dryRun"\?\)/);
  });

  it('refuses a short approval secret', async () => {
    const { file } = await write(VALID);
    await expect(loadConfig(file, { FISH_APPROVAL_SECRET: 'short' })).rejects.toThrow(/approval\.secret.*at least 32 characters/);
  });

  it('reports YAML syntax errors with a line number', async () => {
    const { file } = await write('catalog: [unclosed\n');
    await expect(loadConfig(file)).rejects.toThrow(/fish\.yaml:\d+: YAML syntax/);
  });

  it('refuses a configuration without an audit store (never a silent in-memory trail), and takes memory only by name', async () => {
    const missing = await write(VALID.replace(/^audit:.*\n/m, ''));
    await expect(loadConfig(missing.file, { FISH_APPROVAL_SECRET: SECRET })).rejects.toThrow(/audit.*no audit store configured: set `audit: \{ type: sqlite/);
    const explicit = await write(VALID.replace(/^audit:.*$/m, 'audit: { type: memory }'));
    expect((await loadConfig(explicit.file, { FISH_APPROVAL_SECRET: SECRET })).audit.type).toBe('memory');
  });

  it('requires at least one source', async () => {
    const { file } = await write(VALID.replace(/sources:\n(.*\n){2}/, 'sources: []\n'));
    await expect(loadConfig(file, { FISH_APPROVAL_SECRET: SECRET })).rejects.toThrow(/sources.*configure at least one source/);
  });
});
