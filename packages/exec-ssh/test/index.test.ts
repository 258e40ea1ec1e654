import { testPluginDescriptor } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { sshExecutorPlugin } from '../src/index.js';

const fingerprint = `SHA256:${'A'.repeat(43)}`;
testPluginDescriptor({
  descriptor: sshExecutorPlugin,
  packageJson,
  options: { targets: { penny: { host: '127.0.0.1', username: 'fish', privateKey: 'not read until a connection opens', hostKey: { fingerprint } } }, connectTimeoutMs: 1000 },
});
