import { testPluginDescriptor } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { postgresAuditPlugin } from './index.js';

// Creating the store opens no connection (that happens in init), so no server is needed here.
testPluginDescriptor({ descriptor: postgresAuditPlugin, packageJson, options: { url: 'postgres://fish:secret@127.0.0.1:9/fish', poolSize: 4, statementTimeoutMs: 5000 } });
