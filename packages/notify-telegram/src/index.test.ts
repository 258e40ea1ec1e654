import { testPluginDescriptor } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { telegramNotifierPlugin } from './index.js';

testPluginDescriptor({
  descriptor: telegramNotifierPlugin,
  packageJson,
  options: { botToken: '123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp', chatId: 42, decisions: 'none', apiUrl: 'http://127.0.0.1:9' },
});
