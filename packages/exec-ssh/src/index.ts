export { VERSION } from './version.js';
export { createSshExecutor, buildWrapperCommand, SshExecutorOptionsSchema, type SshExecutor, type SshExecutorOptions } from './ssh-executor.js';
export { createSshPool } from './ssh-pool.js';
export type { SshPool, SshCommand, SshRunOptions, SshRunResult, SshCheckResult } from './pool-api.js';
export {
  SshPoolOptionsSchema,
  SshTargetSchema,
  HostKeyPolicySchema,
  TARGET_NAME_PATTERN,
  type SshTarget,
  type SshTargetInput,
  type HostKeyPolicy,
  type SshPoolOptionsInput,
  type SshFailureKind,
} from './pool-options.js';
export { quoteArgv } from './quote.js';
export { sshFingerprint, knownHostsName, findKnownHosts } from './known-hosts.js';
export { sshExecutorPlugin } from './plugin.js';
