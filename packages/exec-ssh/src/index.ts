export { VERSION } from './version.js';
export { createSshExecutor, buildWrapperCommand, SshExecutorOptionsSchema, type SshExecutor, type SshExecutorOptions } from './ssh-executor.js';
export {
  SshConnectionPool,
  SshPoolOptionsSchema,
  SshTargetSchema,
  HostKeyPolicySchema,
  TARGET_NAME_PATTERN,
  type SshTarget,
  type SshTargetInput,
  type HostKeyPolicy,
  type SshPoolOptionsInput,
  type SshFailureKind,
} from './ssh-pool.js';
export { sshFingerprint, knownHostsName, findKnownHosts } from './known-hosts.js';
export { sshExecutorPlugin } from './plugin.js';
