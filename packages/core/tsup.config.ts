import { packageBuild } from '../../scripts/package-build.ts';

// Two entries: the public API (`.`) and the building blocks shared inside this repository
// (`./internal`, see README.md). esbuild puts what both use in one shared chunk, so a class such
// as FishError is the same class through either import.
export default packageBuild({ entry: ['src/index.ts', 'src/internal.ts'] });
