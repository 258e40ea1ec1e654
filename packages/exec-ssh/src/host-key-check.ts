import { FishError, FishErrorCode, describeError, errorMessage, type Logger } from '@fish-sre/core';
import type { SshCheckResult } from './pool-api.js';
import { appendKnownHost, findKnownHosts, keyTypeOf, knownHostsName, readKnownHosts, sshFingerprint } from './known-hosts.js';
import type { SshFailureKind, SshTarget } from './pool-options.js';

const SCOPE = 'ssh';

export interface HostKeyVerdict {
  kind: 'host-key-mismatch' | 'host-key-unknown';
  fingerprint: string;
  /** The fingerprint the policy expected, when there is exactly one. */
  expected?: string;
  detail: string;
}

/** Returns undefined when the key a server presented is acceptable, or why it is not. */
export function verifyHostKey(name: string, target: SshTarget, key: Buffer, logger: Logger): HostKeyVerdict | undefined {
  const fingerprint = sshFingerprint(key);
  const policy = target.hostKey;
  const where = `${target.host}:${target.port} (target "${name}")`;
  if ('fingerprint' in policy) {
    const expected = policy.fingerprint.replace(/=$/, '');
    if (expected === fingerprint) return undefined;
    return { kind: 'host-key-mismatch', fingerprint, expected, detail: `host key of ${where} does not match: it presented ${fingerprint}, the configuration pins ${policy.fingerprint}` };
  }
  const entries = findKnownHosts(readKnownHosts(policy.knownHostsPath), target.host, target.port);
  if (entries.some((entry) => entry.revoked && entry.key.equals(key))) {
    return { kind: 'host-key-mismatch', fingerprint, detail: `host key of ${where} is marked @revoked in ${policy.knownHostsPath}: it presented ${fingerprint}` };
  }
  const valid = entries.filter((entry) => !entry.revoked);
  if (valid.some((entry) => entry.key.equals(key))) return undefined;
  if (valid.length > 0) {
    const verdict: HostKeyVerdict = {
      kind: 'host-key-mismatch',
      fingerprint,
      detail: `host key of ${where} CHANGED: it presented ${fingerprint}, which is not the key recorded for ${knownHostsName(target.host, target.port)} in ${policy.knownHostsPath} (possible man-in-the-middle; if the host was reinstalled, remove the old line)`,
    };
    if (valid.length === 1 && valid[0] !== undefined) verdict.expected = sshFingerprint(valid[0].key);
    return verdict;
  }
  if ('trustOnFirstUse' in policy) {
    appendKnownHost(policy.knownHostsPath, target.host, target.port, key);
    logger.warn('ssh host key trusted on first use', { target: name, host: target.host, port: target.port, keyType: keyTypeOf(key), fingerprint });
    return undefined;
  }
  return {
    kind: 'host-key-unknown',
    fingerprint,
    detail: `host key of ${where} is unknown: it presented ${fingerprint}, and ${policy.knownHostsPath} has no line for ${knownHostsName(target.host, target.port)} (add it after checking the fingerprint, or use trustOnFirstUse)`,
  };
}

/** Turns an ssh2 connection failure into a FishError whose `details.kind` says what went wrong. */
export function connectError(name: string, target: SshTarget, error: Error & { level?: string; code?: string }, verdict: HostKeyVerdict | undefined, connectTimeoutMs: number): FishError {
  const where = `${target.username}@${target.host}:${target.port} (target "${name}")`;
  if (verdict !== undefined) {
    return new FishError({
      code: FishErrorCode.EXECUTOR_HOST_KEY,
      message: errorMessage(SCOPE, verdict.detail),
      cause: error,
      details: { kind: verdict.kind, host: target.host, port: target.port, target: name, fingerprint: verdict.fingerprint, ...(verdict.expected === undefined ? {} : { expected: verdict.expected }) },
    });
  }
  let kind: SshFailureKind;
  let text: string;
  if (error.level === 'client-authentication') {
    kind = 'auth-refused';
    text = `authentication refused by ${where}: the server did not accept the key (check authorized_keys and the user name)`;
  } else if (error.level === 'client-timeout') {
    kind = 'timeout';
    text = `no SSH handshake with ${where} within ${connectTimeoutMs} ms`;
  } else if (error.level === 'client-socket' || error.code !== undefined) {
    kind = 'unreachable';
    text = `cannot reach ${where}: ${error.code ?? describeError(error)}`;
  } else {
    kind = 'connection-lost';
    text = `SSH connection to ${where} failed: ${describeError(error)}`;
  }
  return new FishError({
    code: FishErrorCode.EXECUTOR_CONNECTION,
    message: errorMessage(SCOPE, text),
    cause: error,
    isRetryable: kind !== 'auth-refused',
    details: { kind, host: target.host, port: target.port, target: name },
  });
}

const PLAIN: Record<SshFailureKind, string> = {
  unreachable: 'unreachable',
  timeout: 'unreachable (timeout)',
  'auth-refused': 'authentication refused',
  'host-key-mismatch': 'host key mismatch',
  'host-key-unknown': 'host key unknown',
  'connection-lost': 'connection lost',
  'channel-refused': 'channel refused',
};

/** A failed check in plain words, with the kind and the presented fingerprint when known. */
export function checkFailure(error: unknown): SshCheckResult {
  const kind = FishError.isInstance(error) ? (error.details.kind as SshFailureKind | undefined) : undefined;
  const fingerprint = FishError.isInstance(error) ? (error.details.fingerprint as string | undefined) : undefined;
  const result: SshCheckResult = { ok: false, detail: `${kind === undefined || PLAIN[kind] === undefined ? 'failed' : PLAIN[kind]}: ${describeError(error)}` };
  if (kind !== undefined) result.kind = kind;
  if (fingerprint !== undefined) result.fingerprint = fingerprint;
  return result;
}
