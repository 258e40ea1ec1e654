import { testPluginDescriptor } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { ntfyNotifierPlugin } from './index.js';

testPluginDescriptor({ descriptor: ntfyNotifierPlugin, packageJson, options: { topic: 'fish-alerts', server: 'http://127.0.0.1:9', token: 'tk_AbCdEfGhIjKlMnOpQrStUvWxYz123' } });
