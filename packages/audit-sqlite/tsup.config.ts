import { packageBuild } from '../../scripts/package-build.ts';

// The worker is its own file (and the `./worker` export); its declarations name better-sqlite3's
// types, which is why @types/better-sqlite3 is a dependency, not a devDependency.
export default packageBuild({ entry: ['src/index.ts', 'src/sqlite-worker.ts'] });
