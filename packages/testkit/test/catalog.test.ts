// The built-in catalogs pass the Catalog conformance suite: the folder catalog alone, and the
// layered catalog (the real seed catalog of this repository under a folder of the user's own).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createFolderCatalog, createLayeredCatalog } from '@fish-sre/core';
import { testCatalog, type CatalogUnderTest } from '../src/index.js';

const SEED = resolve(import.meta.dirname, '../../../catalog');
const roots: string[] = [];

async function ownFolder(): Promise<{ root: string; patterns: string }> {
  const root = await mkdtemp(join(tmpdir(), 'fish-catalog-conformance-'));
  roots.push(root);
  await mkdir(join(root, 'patterns'));
  return { root, patterns: join(root, 'patterns') };
}

function underTest(catalog: CatalogUnderTest['catalog'], patterns: string): CatalogUnderTest {
  return {
    catalog,
    writePattern: (id, text) => writeFile(join(patterns, `${id}.yaml`), text),
    patternFile: (id) => join(patterns, `${id}.yaml`),
  };
}

const cleanup = () => Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true }))).then(() => undefined);

testCatalog({
  name: 'folder catalog (core built-in)',
  async create() {
    const { root, patterns } = await ownFolder();
    return underTest(createFolderCatalog({ directory: root, pollIntervalMs: 25 }), patterns);
  },
  cleanup,
});

testCatalog({
  name: 'layered catalog: the seed catalog + an own folder (core built-in)',
  async create() {
    const { root, patterns } = await ownFolder();
    return underTest(
      createLayeredCatalog({
        layers: [
          { name: 'bundled', directory: SEED },
          { name: 'own', directory: root },
        ],
        pollIntervalMs: 25,
      }),
      patterns,
    );
  },
  cleanup,
});
