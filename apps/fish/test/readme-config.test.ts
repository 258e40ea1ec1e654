import { readFile, mkdtemp, writeFile, mkdir, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createFishRegistry } from '../src/plugins.js';

// The README's example config is documentation users copy: it must stay valid, option by option.
describe("the README's homelab config", () => {
  it('loads and every plugin accepts its options', async () => {
    const readme = await readFile(resolve(import.meta.dirname, '../../../README.md'), 'utf8');
    const block = /```yaml\n(# \/etc\/fish-sre\/fish\.yaml[\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const directory = await mkdtemp(join(tmpdir(), 'fish-readme-'));
    await cp(resolve(import.meta.dirname, '../../../catalog'), join(directory, 'catalog'), { recursive: true });
    const file = join(directory, 'fish.yaml');
    await writeFile(file, block!.replace('/opt/fish-sre/catalog', join(directory, 'catalog')).replace('/var/lib/fish', join(directory, 'state')));
    await mkdir(join(directory, 'state'));
    const config = await loadConfig(file, {
      FISH_APPROVAL_SECRET: 'a'.repeat(44),
      FISH_ALERTMANAGER_TOKEN: 'b'.repeat(32),
      FISH_NTFY_TOPIC: 'fish-homelab-7f3k',
      FISH_NTFY_TOKEN: 'tk_abcdefghijklmnopqrstuvwxyz012',
      FISH_TELEGRAM_BOT_TOKEN: '123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345678',
      CREDENTIALS_DIRECTORY: '/run/credentials/fish.service',
      ANTHROPIC_API_KEY: 'sk-ant-test-0000000000000000',
    });
    expect(config.notifiers.map((notifier) => notifier.type)).toEqual(['ntfy', 'telegram']);
    expect(config.delivery).toEqual({ failoverAfterAttempts: 5, failoverAfter: 120_000, retryInitial: 2000, retryMax: 300_000, expireAfter: 86_400_000 });
    const registry = createFishRegistry();
    const plugins: Array<[Parameters<typeof registry.resolve>[0], { type: string; options: unknown }]> = [
      ...config.sources.map((source) => ['source', source] as [ 'source', typeof source ]),
      ...config.notifiers.map((notifier) => ['notifier', notifier] as ['notifier', typeof notifier]),
      ['executor', config.executor],
      ['audit', config.audit],
      ['llm', config.llm!],
    ];
    for (const [kind, plugin] of plugins) {
      const descriptor = await registry.resolve(kind, plugin.type);
      const parsed = descriptor.optionsSchema.safeParse(plugin.options);
      expect(parsed.success, `${kind} ${plugin.type}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}`).toBe(true);
    }
  });
});
