import { testExecutor } from '@fish-sre/testkit';
import { createSshExecutor } from '../src/index.js';
import { startWrapperHost } from './helpers.js';

// The shared Executor suite, against the SSH executor -> real sshd -> real fish-wrapper.
testExecutor({
  name: 'ssh executor through fish-wrapper',
  killGraceMs: 10_000,
  setup: async (scripts) => {
    const host = await startWrapperHost({ scripts, killGraceSeconds: 1 });
    const executor = createSshExecutor({
      targets: {
        loop: {
          host: host.sshd.host,
          port: host.sshd.port,
          username: host.sshd.username,
          privateKey: host.sshd.privateKey,
          hostKey: { fingerprint: host.sshd.hostKeyFingerprint },
        },
      },
      killGraceMs: 3000,
      keepAliveIntervalMs: 0,
    });
    return { executor, host: 'loop', cleanup: () => host.stop() };
  },
});
