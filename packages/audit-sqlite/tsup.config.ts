import { packageBuild } from '../../scripts/package-build.ts';

// The worker runs as its own file; its declarations (better-sqlite3 types) are not public API.
export default packageBuild({ entry: ['src/index.ts', 'src/sqlite-worker.ts'], dts: { entry: 'src/index.ts' } });
