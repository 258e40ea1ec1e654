import { testPluginDescriptor } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { sqliteAuditPlugin } from './index.js';

testPluginDescriptor({ descriptor: sqliteAuditPlugin, packageJson, options: { path: 'audit.sqlite', busyTimeoutMs: 1000 } });
