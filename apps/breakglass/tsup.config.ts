import { packageBuild } from '../../scripts/package-build.ts';

export default packageBuild({ entry: ['src/index.ts', 'src/cli.ts'], dts: { entry: 'src/index.ts' } });
