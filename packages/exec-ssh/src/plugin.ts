import { definePlugin } from '@fish-sre/core';
import { SshExecutorOptionsSchema, createSshExecutor } from './ssh-executor.js';
import { VERSION } from './version.js';

/** `executors: [{ type: ssh, options: { targets: ... } }]` in a fish-sre config file. */
export const sshExecutorPlugin = definePlugin({
  kind: 'executor',
  type: 'ssh',
  packageName: '@fish-sre/exec-ssh',
  version: VERSION,
  optionsSchema: SshExecutorOptionsSchema,
  create: (options, context) => createSshExecutor({ ...options, logger: context.logger }),
});
