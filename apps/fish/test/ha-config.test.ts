import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createFishRegistry } from '../src/plugins.js';

const deploy = resolve(import.meta.dirname, '../deploy/ha');

// deploy/ha is documentation users copy: its config must load and its compose file must say what the README says.
describe('the two-instance deployment example (deploy/ha)', () => {
  it('has a fish.yaml that loads, with every plugin accepting its options and the audit on PostgreSQL', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fish-ha-'));
    await cp(resolve(import.meta.dirname, '../../../catalog'), join(directory, 'catalog'), { recursive: true });
    await mkdir(join(directory, 'state'));
    const text = (await readFile(join(deploy, 'fish.yaml'), 'utf8')).replace('/etc/fish-sre/catalog', join(directory, 'catalog')).replace('/var/lib/fish', join(directory, 'state'));
    await writeFile(join(directory, 'fish.yaml'), text);
    const config = await loadConfig(join(directory, 'fish.yaml'), {
      FISH_APPROVAL_SECRET: 'a'.repeat(44),
      FISH_NTFY_TOPIC: 'fish-homelab-7f3k',
      FISH_NTFY_TOKEN: 'tk_abcdefghijklmnopqrstuvwxyz012',
      FISH_DATABASE_URL: 'postgres://fish:secret@postgres:5432/fish',
    });
    expect(config.audit).toEqual({ type: 'postgres', options: { url: 'postgres://fish:secret@postgres:5432/fish' } });
    expect(config.secrets).toContain('postgres://fish:secret@postgres:5432/fish');
    const registry = createFishRegistry();
    for (const [kind, plugin] of [
      ...config.sources.map((source) => ['source', source] as const),
      ['notifier', config.notifier] as const,
      ['executor', config.executor] as const,
      ['audit', config.audit] as const,
    ]) {
      const descriptor = await registry.resolve(kind, plugin.type);
      const parsed = descriptor.optionsSchema.safeParse(plugin.options);
      expect(parsed.success, `${kind} ${plugin.type}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}`).toBe(true);
    }
  });

  it('runs two fish instances on one PostgreSQL behind one proxy', async () => {
    const compose = parse(await readFile(join(deploy, 'compose.yaml'), 'utf8'), { merge: true }) as {
      services: Record<string, { environment?: Record<string, string>; command?: string[]; hostname?: string; volumes?: string[] }>;
    };
    expect(Object.keys(compose.services).sort()).toEqual(['fish-a', 'fish-b', 'postgres', 'proxy']);
    for (const name of ['fish-a', 'fish-b']) {
      const service = compose.services[name]!;
      expect(service.hostname).toBe(name);
      expect(service.environment?.['FISH_DATABASE_URL']).toMatch(/^postgres:\/\/fish:\$\{FISH_DB_PASSWORD\}@postgres:5432\/fish$/);
      expect(service.command).toEqual(['npx', '--yes', '@fish-sre/fish@0.1', 'run', '--config', '/etc/fish-sre/fish.yaml']);
      expect(service.volumes).toContain(`${name}-data:/var/lib/fish`);
    }
    const caddy = await readFile(join(deploy, 'Caddyfile'), 'utf8');
    expect(caddy).toMatch(/reverse_proxy fish-a:8080 fish-b:8080/);
  });
});
