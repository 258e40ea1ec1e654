import { testPluginDescriptor } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { ollamaProviderPlugin } from './index.js';

testPluginDescriptor({ descriptor: ollamaProviderPlugin, packageJson, options: { model: 'llama3.1', host: 'http://127.0.0.1:9' } });
