// `catalogWatch: true` (or `{ every }`): a running fish picks up a changed pattern folder by itself, and refuses an
// invalid change while keeping the last good catalog (the engine never sees half a catalog).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ApprovalSigner, createConsoleLogger, createTerminalNotifier } from '@fish-sre/core';
import { composeFish } from '../src/compose.js';
import { FishConfigSchema } from '../src/config.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

const pattern = (title: string) => `id: backup-locked
title: ${title}
target_host: $event_host
required_signals:
  - id: locked
    log:
      message: 'repository is already locked'
      service: restic
diagnosis: Another backup holds the lock.
samples:
  match: [{ message: "Fatal: unable to create lock in backend: repository is already locked by PID 1", service: restic }]
`;

async function until<T>(read: () => T, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startFish(catalogWatch: boolean | { every: number }) {
  const root = await mkdtemp(join(tmpdir(), 'fish-catalog-watch-'));
  roots.push(root);
  await mkdir(join(root, 'mine', 'patterns'), { recursive: true });
  await writeFile(join(root, 'mine', 'patterns', 'backup-locked.yaml'), pattern('Backup locked'));
  await writeFile(join(root, 'app.jsonl'), '');
  const secret = ApprovalSigner.generateSecret();
  const config = {
    ...FishConfigSchema.parse({
      catalog: ['bundled', join(root, 'mine')],
      catalogWatch,
      dataDir: join(root, 'state'),
      approval: { publicUrl: 'http://127.0.0.1:1', secret },
      sources: [{ type: 'file', options: { path: join(root, 'app.jsonl') } }],
      notifier: { type: 'terminal' },
      executor: { type: 'local', options: { scriptsDir: join(root, 'mine'), sandboxDir: root, hosts: ['penny'] } },
      audit: { type: 'memory' },
      metrics: null,
      log: { level: 'error' },
    }),
    configPath: join(root, 'fish.yaml'),
    secrets: [secret],
  };
  const app = await composeFish(config, { listen: false, notifier: createTerminalNotifier({ write: () => undefined }), logger: createConsoleLogger({ level: 'error' }), env: {} });
  const loaded = app.catalog.catalog;
  await app.start();
  // The watch loads the catalog once as it starts: a change made after that is one it must find.
  await until(
    () => app.catalog.catalog,
    (current) => current !== loaded,
  );
  const title = () => app.catalog.catalog.patterns.find((each) => each.id === 'backup-locked')?.title;
  return { root, app, title };
}

it('reloads the layered catalog when a file changes, and keeps the last good one on an invalid change', async () => {
  const { root, app, title } = await startFish(true);
  try {
    expect(title()).toBe('Backup locked');
    const before = app.catalog.catalog.patterns.length;

    await writeFile(join(root, 'mine', 'patterns', 'backup-locked.yaml'), pattern('Backup repository locked by another run'));
    expect(await until(title, (value) => value === 'Backup repository locked by another run')).toBe('Backup repository locked by another run');
    expect((await app.metrics.catalogReloadSuccess.get()).values[0]?.value).toBe(1);

    await writeFile(join(root, 'mine', 'patterns', 'backup-locked.yaml'), pattern('Broken').replace('target_host', 'target_hots'));
    const refused = await (async () => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const value = (await app.metrics.catalogReloadSuccess.get()).values[0]?.value;
        if (value === 0 || Date.now() > deadline) return value;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    expect(refused).toBe(0);
    expect(title()).toBe('Backup repository locked by another run');
    expect(app.catalog.catalog.patterns.length).toBe(before);
  } finally {
    await app.stop();
  }
});

it('looks at the folders as often as `catalogWatch: { every }` says, not every 2s', async () => {
  const { root, app, title } = await startFish({ every: 3_600_000 });
  try {
    await writeFile(join(root, 'mine', 'patterns', 'backup-locked.yaml'), pattern('Backup repository locked by another run'));
    // Longer than the 2s of `catalogWatch: true`, far shorter than the hour asked for.
    await new Promise((resolve) => setTimeout(resolve, 2_600));
    expect(title()).toBe('Backup locked');
    // The change was valid: a reload (SIGHUP) takes it.
    expect((await app.catalog.reload()).ok).toBe(true);
    expect(title()).toBe('Backup repository locked by another run');
  } finally {
    await app.stop();
  }
});
