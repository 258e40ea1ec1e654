import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { Client as SshClient, ClientChannel, ConnectConfig } from 'ssh2';
import { z } from 'zod';
import { FishError, FishErrorCode, describeError, errorMessage, parseOptions, silentLogger, type Logger } from '@fish-sre/core';
import { appendKnownHost, findKnownHosts, hostKeyAlgorithmsFor, keyTypeOf, knownHostsName, readKnownHosts, sshFingerprint } from './known-hosts.js';

const SCOPE = 'ssh';

/** How the pool decides whether the key a server presents is the right one. */
export const HostKeyPolicySchema = z.union([
  z.object({ knownHostsPath: z.string().min(1) }).strict(),
  z.object({ fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'expected SHA256:<43 base64 characters> as `ssh-keygen -lf` prints it') }).strict(),
  z.object({ trustOnFirstUse: z.literal(true), knownHostsPath: z.string().min(1) }).strict(),
]);
export type HostKeyPolicy = z.infer<typeof HostKeyPolicySchema>;

export const SshTargetSchema = z
  .object({
    /** An IP address (no DNS: a name could be redirected). */
    host: z.union([z.ipv4(), z.ipv6()]),
    port: z.number().int().min(1).max(65535).default(22),
    username: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, 'expected a POSIX user name'),
    privateKey: z.string().min(1).optional(),
    privateKeyPath: z.string().min(1).optional(),
    passphrase: z.string().optional(),
    hostKey: HostKeyPolicySchema,
  })
  .strict()
  .refine((target) => (target.privateKey === undefined) !== (target.privateKeyPath === undefined), {
    message: 'give exactly one of privateKey or privateKeyPath',
  });
export type SshTarget = z.output<typeof SshTargetSchema>;
export type SshTargetInput = z.input<typeof SshTargetSchema>;

export const TARGET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const SshPoolOptionsSchema = z.strictObject({
  targets: z.record(z.string().regex(TARGET_NAME_PATTERN, 'target names are letters, digits, . _ -'), SshTargetSchema),
  /** SSH-level keep-alive on pooled connections (0 disables). @default 15000 */
  keepAliveIntervalMs: z.number().int().min(0).default(15_000),
  /** A connection with no open channel is closed after this long. @default 300000 */
  idleCloseMs: z.number().int().min(1).default(300_000),
  /** TCP connect + handshake + authentication must finish within this. @default 10000 */
  connectTimeoutMs: z.number().int().min(1).default(10_000),
});
export type SshPoolOptionsInput = z.input<typeof SshPoolOptionsSchema> & {
  logger?: Logger;
  /** Makes the ssh2 client for each connection (tests, instrumentation). @default () => new ssh2.Client() */
  createClient?: () => SshClient;
};

/** Why a connection attempt failed, in the words `fish-sre doctor` prints. */
export type SshFailureKind = 'unreachable' | 'timeout' | 'auth-refused' | 'host-key-mismatch' | 'host-key-unknown' | 'connection-lost' | 'channel-refused';

interface Entry {
  client: SshClient;
  ready: Promise<SshClient>;
  alive: boolean;
  active: number;
  idleTimer: NodeJS.Timeout | undefined;
}

interface HostKeyVerdict {
  kind: 'host-key-mismatch' | 'host-key-unknown';
  fingerprint: string;
  detail: string;
}

/** Marks an exec failure that happened before the server opened the channel (safe to retry). */
class BeforeChannelOpen extends Error {}

function kindOf(error: unknown): SshFailureKind | undefined {
  return FishError.isInstance(error) ? (error.details.kind as SshFailureKind | undefined) : undefined;
}

/**
 * One SSH connection per configured target, shared by every command for it: opened on first use,
 * kept alive, reopened when lost, closed when idle. Several channels can run on one connection at
 * once. Host keys are verified on every (re)connection.
 */
export class SshConnectionPool {
  private readonly targets: Record<string, SshTarget>;
  private readonly keepAliveIntervalMs: number;
  private readonly idleCloseMs: number;
  private readonly connectTimeoutMs: number;
  private readonly logger: Logger;
  private readonly createClient: () => SshClient;
  private readonly entries = new Map<string, Entry>();
  private closed = false;
  /** How many connections were opened per target (tests, `doctor`). */
  readonly connectCount = new Map<string, number>();

  constructor(options: SshPoolOptionsInput) {
    const { logger, createClient, ...rest } = options;
    const parsed = parseOptions(SshPoolOptionsSchema, rest, SCOPE);
    this.createClient = createClient ?? (() => new ssh2.Client());
    this.targets = parsed.targets;
    this.keepAliveIntervalMs = parsed.keepAliveIntervalMs;
    this.idleCloseMs = parsed.idleCloseMs;
    this.connectTimeoutMs = parsed.connectTimeoutMs;
    this.logger = (logger ?? silentLogger).child({ plugin: 'exec-ssh' });
  }

  hosts(): string[] {
    return Object.keys(this.targets);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.targets, name);
  }

  /** Whether a live pooled connection to `name` exists right now. */
  isConnected(name: string): boolean {
    return this.entries.get(name)?.alive === true;
  }

  private target(name: string): SshTarget {
    if (!this.has(name)) {
      throw new FishError({
        code: FishErrorCode.TARGET_NOT_ALLOWED,
        message: errorMessage(SCOPE, `host "${String(name).slice(0, 80)}" is not a configured target (configured: ${this.hosts().join(', ') || 'none'})`),
      });
    }
    return this.targets[name] as SshTarget;
  }

  /** Returns the pooled, authenticated connection to `name`, opening it if needed. */
  async connection(name: string, signal?: AbortSignal): Promise<SshClient> {
    if (this.closed) throw new FishError({ code: FishErrorCode.PLUGIN_DISPOSED, message: errorMessage(SCOPE, 'the SSH pool is closed') });
    const target = this.target(name);
    let entry = this.entries.get(name);
    if (entry === undefined || !entry.alive) {
      entry = this.open(name, target);
      this.entries.set(name, entry);
    }
    const ready = entry.ready;
    if (signal === undefined) return ready;
    if (signal.aborted) throw abortedError(name);
    return new Promise<SshClient>((resolve, reject) => {
      const onAbort = () => reject(abortedError(name));
      signal.addEventListener('abort', onAbort, { once: true });
      ready.then(
        (client) => {
          signal.removeEventListener('abort', onAbort);
          resolve(client);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  private open(name: string, target: SshTarget, pooled = true): Entry {
    const client = this.createClient();
    const entry: Entry = { client, ready: Promise.resolve(client), alive: true, active: 0, idleTimer: undefined };
    this.connectCount.set(name, (this.connectCount.get(name) ?? 0) + 1);
    let verdict: HostKeyVerdict | undefined;
    let presented: string | undefined;
    entry.ready = new Promise<SshClient>((resolve, reject) => {
      let settled = false;
      client.once('ready', () => {
        settled = true;
        // Small request/reply packets: without this, Nagle + delayed ACK add ~40 ms per exchange.
        client.setNoDelay(true);
        this.logger.debug('ssh connection ready', { target: name, host: target.host, port: target.port, hostKey: presented });
        if (pooled) this.touch(name, entry);
        resolve(client);
      });
      client.on('error', (error: Error & { level?: string }) => {
        if (settled) {
          this.logger.warn('ssh connection error', { target: name, error: describeError(error) });
          return;
        }
        settled = true;
        entry.alive = false;
        reject(this.connectError(name, target, error, verdict));
      });
      client.on('close', () => {
        entry.alive = false;
        if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
        if (this.entries.get(name) === entry) this.entries.delete(name);
        if (!settled) {
          settled = true;
          reject(this.connectError(name, target, new Error('connection closed during the handshake'), verdict));
        }
      });
    });
    // The pool's callers observe rejections through `ready`; this keeps a failed background
    // connection from being reported as an unhandled rejection.
    entry.ready.catch(() => undefined);

    let privateKey: string | Buffer;
    try {
      privateKey = target.privateKey ?? readFileSync(target.privateKeyPath as string);
    } catch (error) {
      entry.alive = false;
      entry.ready = Promise.reject(
        new FishError({
          code: FishErrorCode.CONFIG_INVALID,
          message: errorMessage(SCOPE, `cannot read the private key for target "${name}" at ${target.privateKeyPath}: ${describeError(error)}`),
          cause: error,
        }),
      );
      entry.ready.catch(() => undefined);
      return entry;
    }

    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      privateKey,
      readyTimeout: this.connectTimeoutMs,
      keepaliveInterval: pooled ? this.keepAliveIntervalMs : 0,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        presented = sshFingerprint(key);
        verdict = this.verifyHostKey(name, target, key);
        return verdict === undefined;
      },
    };
    if (target.passphrase !== undefined) config.passphrase = target.passphrase;
    const policy = target.hostKey;
    if ('knownHostsPath' in policy) {
      const types = [...new Set(findKnownHosts(readKnownHosts(policy.knownHostsPath), target.host, target.port).filter((e) => !e.revoked).map((e) => e.keyType))];
      if (types.length > 0) config.algorithms = { serverHostKey: types.flatMap(hostKeyAlgorithmsFor) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] };
    }
    try {
      client.connect(config);
    } catch (error) {
      entry.alive = false;
      entry.ready = Promise.reject(this.connectError(name, target, error as Error, verdict));
      entry.ready.catch(() => undefined);
    }
    return entry;
  }

  /** Returns undefined when the key is acceptable, or why it is not. */
  private verifyHostKey(name: string, target: SshTarget, key: Buffer): HostKeyVerdict | undefined {
    const fingerprint = sshFingerprint(key);
    const policy = target.hostKey;
    const where = `${target.host}:${target.port} (target "${name}")`;
    if ('fingerprint' in policy) {
      if (policy.fingerprint.replace(/=$/, '') === fingerprint) return undefined;
      return { kind: 'host-key-mismatch', fingerprint, detail: `host key of ${where} does not match: it presented ${fingerprint}, the configuration pins ${policy.fingerprint}` };
    }
    const entries = findKnownHosts(readKnownHosts(policy.knownHostsPath), target.host, target.port);
    if (entries.some((entry) => entry.revoked && entry.key.equals(key))) {
      return { kind: 'host-key-mismatch', fingerprint, detail: `host key of ${where} is marked @revoked in ${policy.knownHostsPath}: it presented ${fingerprint}` };
    }
    const valid = entries.filter((entry) => !entry.revoked);
    if (valid.some((entry) => entry.key.equals(key))) return undefined;
    if (valid.length > 0) {
      return {
        kind: 'host-key-mismatch',
        fingerprint,
        detail: `host key of ${where} CHANGED: it presented ${fingerprint}, which is not the key recorded for ${knownHostsName(target.host, target.port)} in ${policy.knownHostsPath} (possible man-in-the-middle; if the host was reinstalled, remove the old line)`,
      };
    }
    if ('trustOnFirstUse' in policy) {
      appendKnownHost(policy.knownHostsPath, target.host, target.port, key);
      this.logger.warn('ssh host key trusted on first use', { target: name, host: target.host, port: target.port, keyType: keyTypeOf(key), fingerprint });
      return undefined;
    }
    return {
      kind: 'host-key-unknown',
      fingerprint,
      detail: `host key of ${where} is unknown: it presented ${fingerprint}, and ${policy.knownHostsPath} has no line for ${knownHostsName(target.host, target.port)} (add it after checking the fingerprint, or use trustOnFirstUse)`,
    };
  }

  private connectError(name: string, target: SshTarget, error: Error & { level?: string; code?: string }, verdict: HostKeyVerdict | undefined): FishError {
    const where = `${target.username}@${target.host}:${target.port} (target "${name}")`;
    if (verdict !== undefined) {
      return new FishError({
        code: FishErrorCode.EXECUTOR_HOST_KEY,
        message: errorMessage(SCOPE, verdict.detail),
        cause: error,
        details: { kind: verdict.kind, host: target.host, port: target.port, target: name, fingerprint: verdict.fingerprint },
      });
    }
    let kind: SshFailureKind;
    let text: string;
    if (error.level === 'client-authentication') {
      kind = 'auth-refused';
      text = `authentication refused by ${where}: the server did not accept the key (check authorized_keys and the user name)`;
    } else if (error.level === 'client-timeout') {
      kind = 'timeout';
      text = `no SSH handshake with ${where} within ${this.connectTimeoutMs} ms`;
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

  /** Restarts the idle timer of a connection that has no channel open. */
  private touch(name: string, entry: Entry): void {
    if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    if (entry.active > 0 || !entry.alive) return;
    entry.idleTimer = setTimeout(() => {
      if (entry.active === 0 && entry.alive) {
        this.logger.debug('closing idle ssh connection', { target: name });
        entry.alive = false;
        if (this.entries.get(name) === entry) this.entries.delete(name);
        entry.client.end();
      }
    }, this.idleCloseMs);
    entry.idleTimer.unref();
  }

  /**
   * Opens a session channel on the pooled connection and sends `exec <command>`. A failure that
   * happens before the server opened the channel (connect error, connection already dead) is
   * retried once on a fresh connection; once the channel is open the command may have started,
   * so nothing is retried. `onExecSent` fires when the channel request is written.
   *
   * Attach listeners in `onChannel`: it runs synchronously when the server confirms the exec, and
   * ssh2 emits `exit` synchronously while parsing, so a fast command's exit status can arrive in
   * the same TCP read as the confirmation, before an awaiting caller resumes. (ssh2 also passes
   * the exit code/signal to the channel's `close` event.)
   */
  async exec(
    name: string,
    command: string,
    options: { signal?: AbortSignal; onExecSent?: () => void; onChannel?: (channel: ClientChannel) => void } = {},
  ): Promise<ClientChannel> {
    for (let attempt = 1; ; attempt++) {
      let client: SshClient;
      try {
        client = await this.connection(name, options.signal);
      } catch (error) {
        const retry = attempt === 1 && FishError.isInstance(error) && error.isRetryable && kindOf(error) !== undefined && !options.signal?.aborted;
        if (!retry) throw error;
        this.logger.warn('ssh connect failed, retrying once', { target: name, error: describeError(error) });
        continue;
      }
      try {
        return await this.openExec(name, client, command, options.onExecSent, options.onChannel);
      } catch (error) {
        if (error instanceof BeforeChannelOpen && attempt === 1 && !options.signal?.aborted) {
          this.logger.warn('ssh connection lost before the channel opened, retrying once on a new connection', { target: name, error: describeError(error.cause) });
          this.discard(name, client);
          continue;
        }
        const target = this.target(name);
        const before = error instanceof BeforeChannelOpen;
        throw new FishError({
          code: FishErrorCode.EXECUTOR_CONNECTION,
          message: errorMessage(
            SCOPE,
            before
              ? `could not open a channel to ${target.host}:${target.port} (target "${name}") after one retry: ${describeError(error.cause)}`
              : `the exec request to ${target.host}:${target.port} (target "${name}") failed after the channel opened (${describeError(error)}); not retried because the command may have started`,
          ),
          cause: error,
          isRetryable: false,
          details: { kind: before ? 'channel-refused' : 'connection-lost', host: target.host, port: target.port, target: name, mayHaveStarted: !before },
        });
      }
    }
  }

  private discard(name: string, client: SshClient): void {
    const entry = this.entries.get(name);
    if (entry?.client === client) {
      entry.alive = false;
      this.entries.delete(name);
    }
    client.destroy();
  }

  private openExec(name: string, client: SshClient, command: string, onExecSent?: () => void, onChannel?: (channel: ClientChannel) => void): Promise<ClientChannel> {
    return new Promise<ClientChannel>((resolve, reject) => {
      const entry = this.entries.get(name);
      const current = entry?.client === client ? entry : undefined;
      if (current !== undefined) {
        current.active += 1;
        if (current.idleTimer !== undefined) clearTimeout(current.idleTimer);
      }
      const release = () => {
        if (current === undefined) return;
        current.active -= 1;
        this.touch(name, current);
      };
      try {
        client.exec(command, (error, channel) => {
          if (error !== undefined && error !== null) {
            release();
            // ssh2 reports 'Unable to exec' / 'Channel is not open' once the channel was open;
            // every other error here (connection closed, open failure) came before it opened.
            if (/Unable to exec|Channel is not open/.test(error.message)) reject(error);
            else reject(new BeforeChannelOpen(error.message, { cause: error }));
            return;
          }
          channel.once('close', release);
          onChannel?.(channel);
          resolve(channel);
        });
        onExecSent?.();
      } catch (error) {
        release();
        reject(new BeforeChannelOpen(describeError(error), { cause: error }));
      }
    });
  }

  /**
   * Opens a separate, unpooled connection and reports what is wrong in plain words (for
   * `fish-sre doctor`): unreachable, timeout, authentication refused, host key mismatch/unknown.
   */
  async check(name: string, signal?: AbortSignal): Promise<{ ok: boolean; detail: string; kind?: SshFailureKind; fingerprint?: string }> {
    let target: SshTarget;
    try {
      target = this.target(name);
    } catch (error) {
      return { ok: false, detail: describeError(error) };
    }
    const entry = this.open(name, target, false);
    const onAbort = () => entry.client.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await entry.ready;
      const where = `${target.username}@${target.host}:${target.port}`;
      return { ok: true, detail: `connected to ${where}, host key verified, key accepted` };
    } catch (error) {
      const kind = kindOf(error);
      const fingerprint = FishError.isInstance(error) ? (error.details.fingerprint as string | undefined) : undefined;
      const plain: Record<SshFailureKind, string> = {
        unreachable: 'unreachable',
        timeout: 'unreachable (timeout)',
        'auth-refused': 'authentication refused',
        'host-key-mismatch': 'host key mismatch',
        'host-key-unknown': 'host key unknown',
        'connection-lost': 'connection lost',
        'channel-refused': 'channel refused',
      };
      const result: { ok: boolean; detail: string; kind?: SshFailureKind; fingerprint?: string } = {
        ok: false,
        detail: `${kind === undefined ? 'failed' : plain[kind]}: ${describeError(error)}`,
      };
      if (kind !== undefined) result.kind = kind;
      if (fingerprint !== undefined) result.fingerprint = fingerprint;
      return result;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      entry.client.end();
    }
  }

  /** Closes every pooled connection; the pool refuses new work afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      entries.map(
        (entry) =>
          new Promise<void>((resolve) => {
            if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
            entry.alive = false;
            const timer = setTimeout(() => {
              entry.client.destroy();
              resolve();
            }, 1000);
            timer.unref();
            entry.client.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            entry.client.end();
          }),
      ),
    );
  }
}

function abortedError(name: string): FishError {
  return new FishError({ code: FishErrorCode.EXECUTOR_FAILED, message: errorMessage(SCOPE, `aborted before a channel to target "${name}" was opened`), details: { kind: 'aborted', target: name } });
}
