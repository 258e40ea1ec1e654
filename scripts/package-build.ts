import { defineConfig, type Options } from 'tsup';

/**
 * The one build every package of this repository shares: ESM for Node 22 with declarations and
 * source maps. A package's `tsup.config.ts` passes only what differs (more entries, which of them
 * get declarations). `VERSION` is not typed anywhere: each package's `src/index.ts` reads it from
 * its package.json, which esbuild inlines here at build time.
 */
export function packageBuild(options: Options = {}) {
  return defineConfig({ entry: ['src/index.ts'], format: ['esm'], dts: true, clean: true, sourcemap: true, target: 'node22', ...options });
}
