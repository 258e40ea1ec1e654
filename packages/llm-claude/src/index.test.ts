import { testPluginDescriptor } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { claudeProviderPlugin } from './index.js';

testPluginDescriptor({ descriptor: claudeProviderPlugin, packageJson, options: { apiKey: 'sk-ant-test-00000000000000000000', model: 'claude-sonnet-4-6', baseURL: 'http://127.0.0.1:9' } });
