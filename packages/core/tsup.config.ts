import { copyFileSync, mkdirSync } from 'node:fs';
import { packageBuild } from '../../scripts/package-build.ts';

// The error codes' reference ships with the package (dist/docs/errors.md): FishErrorCode's
// documentation and error messages send readers to it, also where the repository is not at hand.
export default packageBuild({
  onSuccess: async () => {
    mkdirSync('dist/docs', { recursive: true });
    copyFileSync('../../docs/errors.md', 'dist/docs/errors.md');
  },
});
