import { testPluginDescriptor } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { lokiSourcePlugin } from './index.js';

testPluginDescriptor({ descriptor: lokiSourcePlugin, packageJson, options: { query: '{job="varlogs"}', url: 'http://127.0.0.1:9', limit: 50 } });
