import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assembleReleasePlan } from '@changesets/assemble-release-plan';
import { readConfig } from '@changesets/config';
import { getPackages } from '@manypkg/get-packages';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without declarations
import { checkPackages, REPOSITORY } from './check-packages.mjs';

const ROOT = resolve(import.meta.dirname, '..');

describe('check-packages', () => {
  it('finds every package of this repository in shape', () => {
    expect(checkPackages(ROOT)).toEqual([]);
  });

  it('names each broken rule of a package that strays from the shape', () => {
    const root = mkdtempSync(join(tmpdir(), 'fish-shape-'));
    try {
      writeFileSync(join(root, 'LICENSE'), readFileSync(join(ROOT, 'LICENSE')));
      writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'root', private: true }));
      cpSync(join(ROOT, 'packages', 'core', 'package.json'), join(root, 'packages', 'core', 'package.json'), { recursive: true });
      writeFileSync(join(root, 'packages', 'core', 'LICENSE'), readFileSync(join(ROOT, 'LICENSE')));
      writeFileSync(join(root, 'packages', 'core', 'README.md'), '# core\n');
      const folder = join(root, 'packages', 'notify-pager');
      mkdirSync(join(folder, 'src'), { recursive: true });
      mkdirSync(join(folder, 'test'));
      writeFileSync(
        join(folder, 'package.json'),
        JSON.stringify({
          name: '@fish-sre/notify-pager',
          version: '0.1.0',
          license: 'MIT',
          repository: { type: 'git', url: `git+${REPOSITORY}.git`, directory: 'packages/notify-pager' },
          peerDependencies: { '@fish-sre/core': '0.1.0' },
        }),
      );
      writeFileSync(join(folder, 'README.md'), 'See [the guide](../../docs/plugin-authoring.md).\n');
      writeFileSync(join(folder, 'src', 'index.ts'), "export const VERSION = '0.1.0';\nexport const pagerPlugin = definePlugin({ optionsSchema: pagerOptionsSchema });\n");
      writeFileSync(join(folder, 'src', 'pager.ts'), 'export const pagerOptionsSchema = z.object({});\n');
      writeFileSync(join(folder, 'test', 'pager.test.ts'), '');
      const problems = checkPackages(root).join('\n');
      expect(problems).toContain('peerDependencies.@fish-sre/core is "0.1.0"; use a caret range');
      expect(problems).toContain('LICENSE must be a copy of the repository LICENSE');
      expect(problems).toContain('homepage must be');
      expect(problems).toContain('keywords must include "fish-sre"');
      expect(problems).toContain('README.md:1: relative link ../../docs/plugin-authoring.md is dead on npm');
      expect(problems).toContain('src/index.ts must export VERSION read from package.json');
      expect(problems).toContain('src/index.ts types a version by hand');
      expect(problems).toContain('options schema "pagerOptionsSchema" must be named <Name>OptionsSchema');
      expect(problems).toContain('tests live beside the code in src/: move test/pager.test.ts');
      expect(problems).toContain('src/index.test.ts must call testPluginDescriptor()');
      expect(problems).toContain('@fish-sre/core and zod must be peerDependencies');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

// What `changeset version` would do, computed by changesets itself from this repository's config.
describe('release configuration', () => {
  async function plan(type: 'patch' | 'minor') {
    const packages = await getPackages(ROOT);
    const { config, errors } = await readConfig(ROOT, packages);
    expect(errors).toBeUndefined();
    const releases = assembleReleasePlan([{ id: 'core-change', summary: 'a change to core', releases: [{ name: '@fish-sre/core', type }] }], packages, config!, undefined).releases;
    return new Map(releases.filter((release) => release.type !== 'none').map((release) => [release.name, release]));
  }

  it('a patch of core releases core alone: every dependent range already accepts it', async () => {
    const releases = await plan('patch');
    expect([...releases.keys()]).toEqual(['@fish-sre/core']);
    expect(releases.get('@fish-sre/core')!.newVersion).toBe('0.1.1');
  });

  it('a minor of core (0.x: breaking) moves its dependents to new ranges with a patch, never a major', async () => {
    const releases = await plan('minor');
    expect(releases.get('@fish-sre/core')!.newVersion).toBe('0.2.0');
    for (const dependent of ['@fish-sre/notify-ntfy', '@fish-sre/source-loki', '@fish-sre/testkit', '@fish-sre/fish']) {
      expect(releases.get(dependent), dependent).toMatchObject({ type: 'patch' });
    }
  });
});
