import { readFileSync } from 'node:fs';
import type { ConnectConfig } from 'ssh2';
import { FishError, FishErrorCode, describeError, errorMessage } from '@fish-sre/core';
import { findKnownHosts, hostKeyAlgorithmsFor, readKnownHosts } from './known-hosts.js';
import type { SshTarget } from './pool-options.js';

/**
 * The ssh2 connect settings for a target: its key (read now, so a rotated key file is picked up on
 * reconnect), and, for a known_hosts policy, only the host key types recorded for it (so the
 * server offers the key that can be verified).
 */
export function connectConfig(name: string, target: SshTarget, settings: { readyTimeout: number; keepaliveInterval: number; hostVerifier: (key: Buffer) => boolean }): ConnectConfig {
  let privateKey: string | Buffer;
  try {
    privateKey = target.privateKey ?? readFileSync(target.privateKeyPath as string);
  } catch (error) {
    throw new FishError({
      code: FishErrorCode.CONFIG_INVALID,
      message: errorMessage('ssh', `cannot read the private key for target "${name}" at ${target.privateKeyPath}: ${describeError(error)}`),
      cause: error,
    });
  }
  const config: ConnectConfig = { host: target.host, port: target.port, username: target.username, privateKey, keepaliveCountMax: 3, ...settings };
  if (target.passphrase !== undefined) config.passphrase = target.passphrase;
  const policy = target.hostKey;
  if ('knownHostsPath' in policy) {
    const types = [
      ...new Set(
        findKnownHosts(readKnownHosts(policy.knownHostsPath), target.host, target.port)
          .filter((entry) => !entry.revoked)
          .map((entry) => entry.keyType),
      ),
    ];
    if (types.length > 0) config.algorithms = { serverHostKey: types.flatMap(hostKeyAlgorithmsFor) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] };
  }
  return config;
}
