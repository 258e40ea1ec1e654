import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FishEngine, ApprovalSigner, ManualClock, createLocalExecutor, createMemoryAuditStore, type CatalogSnapshot } from '@fish-sre/core';
import { createFileBundleWriter } from '../src/unknown-bundles.js';
import { createRecordingNotifier } from './helpers.js';

async function engineWith(incidentsDir: string) {
  const root = await mkdtemp(join(tmpdir(), 'fish-bundles-'));
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 9, 30));
  const notifier = createRecordingNotifier();
  const catalog: CatalogSnapshot = { patterns: [], scriptsDir: root, loadedFrom: root, loadedAt: clock.now(), digest: 'x' };
  const engine = new FishEngine({
    catalog: () => catalog,
    sources: [],
    audit: createMemoryAuditStore(),
    notifier,
    executor: createLocalExecutor({ scriptsDir: root, sandboxDir: root, hosts: ['penny'] }),
    signer: new ApprovalSigner('bundle-test-secret-0123456789abcdef'),
    publicUrl: 'https://fish.example.test',
    clock,
    unknown: { count: 2 },
    unknownBundles: createFileBundleWriter(incidentsDir),
  });
  const fire = async (message: string, id: string) => {
    await engine.ingest({ id, kind: 'log', source: 'test', time: clock.now(), host: 'penny', service: 'mystery', level: 'error', message, labels: {} });
    await engine.idle();
  };
  return { engine, notifier, fire, root };
}

describe('UNKNOWN bundles as files', () => {
  it('writes <incident>.json, readable by fish and its group only, and names it in the notification', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fish-bundles-'));
    const incidentsDir = join(root, 'data', 'incidents');
    const { fire, notifier } = await engineWith(incidentsDir);
    await fire('segfault in worker 1', 'e1');
    await expect(readdir(incidentsDir)).rejects.toThrow(/ENOENT/);
    await fire('segfault in worker 2 password=hunter2-pa55', 'e2');
    const files = await readdir(incidentsDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^inc_[a-f0-9]{20}\.json$/);
    const path = join(incidentsDir, files[0]!);
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    const text = await readFile(path, 'utf8');
    const bundle = JSON.parse(text) as { incident: { patternId: string }; evidence: string[] };
    expect(bundle.incident.patternId).toBe('UNKNOWN');
    expect(bundle.evidence).toHaveLength(2);
    expect(text).not.toContain('hunter2-pa55');
    expect(notifier.messages.find((message) => message.kind === 'unknown-incident')?.body).toContain(`Bundle: ${path}`);
  });

  it('still notifies when the folder cannot be created, saying why', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fish-bundles-'));
    await writeFile(join(root, 'not-a-folder'), 'x');
    const { engine, fire, notifier } = await engineWith(join(root, 'not-a-folder', 'incidents'));
    await fire('segfault 1', 'f1');
    await fire('segfault 2', 'f2');
    const body = notifier.messages.find((message) => message.kind === 'unknown-incident')?.body ?? '';
    expect(body).toMatch(/Bundle: not written \(.*(ENOTDIR|EEXIST)/);
    expect(engine.stats().errors).toBe(1);
  });

  it('writes a drafted pattern beside its bundle', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fish-bundles-'));
    const writer = createFileBundleWriter(root);
    const path = await writer.writeDraft!('inc_0123456789abcdef0123', 'id: draft\n');
    expect(path).toBe(join(root, 'inc_0123456789abcdef0123.draft.yaml'));
    expect(await readFile(path, 'utf8')).toBe('id: draft\n');
  });
});
