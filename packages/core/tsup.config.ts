import { copyFileSync, mkdirSync } from 'node:fs';
import { packageBuild } from '../../scripts/package-build.ts';

// Two entries: the public API (`.`) and the building blocks shared inside this repository
// (`./internal`, see README.md). esbuild puts what both use in one shared chunk, so a class such
// as FishError is the same class through either import.
// The error codes' reference ships with the package (dist/docs/errors.md): FishErrorCode's
// documentation and error messages send readers to it, also where the repository is not at hand.
export default packageBuild({
  entry: ['src/index.ts', 'src/internal.ts'],
  onSuccess: async () => {
    mkdirSync('dist/docs', { recursive: true });
    copyFileSync('../../docs/errors.md', 'dist/docs/errors.md');
  },
});
