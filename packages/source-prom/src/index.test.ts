import { testPluginDescriptor } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { alertmanagerSourcePlugin, prometheusSourcePlugin } from './index.js';

testPluginDescriptor({ descriptor: prometheusSourcePlugin, packageJson, options: { url: 'http://127.0.0.1:9', interval: '30s' } });
testPluginDescriptor({ descriptor: alertmanagerSourcePlugin, packageJson, options: { bearerToken: 'b'.repeat(32), bufferSize: 100 } });
