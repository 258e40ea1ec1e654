// The SSH connection pool: one shared, kept-alive connection per target, channels opened on it, idle close.
import ssh2 from 'ssh2';
import type { Client as SshClient, ClientChannel } from 'ssh2';
import { FishError, FishErrorCode, describeError, errorMessage, parseOptions, silentLogger, type Logger } from '@fish-sre/core';
import { checkFailure } from './host-key-check.js';
import { SCOPE, abortedError, kindOf, openConnection, type Entry } from './pool-connection.js';
import { HostKeyPolicySchema, SshPoolOptionsSchema, type HostKeyPolicy, type SshPoolOptionsInput, type SshTarget } from './pool-options.js';
import type { SshCheckResult, SshCommand, SshPool, SshRunOptions, SshRunResult } from './pool-api.js';
import { quoteArgv } from './quote.js';
import { runOnChannel } from './run-channel.js';
import { BeforeChannelOpen, endClient, openExecChannel, untilAborted } from './open-channel.js';

/** Internal construction options: a test may swap the ssh2 client (never part of the public types). */
export type InternalPoolOptions = SshPoolOptionsInput & { createClient?: () => SshClient };

/**
 * One SSH connection per configured target, shared by every command for it: opened on first use,
 * kept alive, reopened when lost, closed when idle. Several channels can run on one connection at
 * once. Host keys are verified on every (re)connection.
 */
export class SshConnectionPool implements SshPool {
  private readonly targets: Map<string, SshTarget>;
  private readonly keepAliveIntervalMs: number;
  private readonly idleCloseMs: number;
  private readonly connectTimeoutMs: number;
  private readonly logger: Logger;
  private readonly createClient: () => SshClient;
  private readonly onExecSent: ((target: string) => void) | undefined;
  private readonly entries = new Map<string, Entry>();
  private closed = false;
  /** How many connections were opened per target (tests, `doctor`). */
  readonly connectCount = new Map<string, number>();

  constructor(options: InternalPoolOptions) {
    const { logger, createClient, onExecSent, ...rest } = options;
    const parsed = parseOptions(SshPoolOptionsSchema, rest, SCOPE);
    this.createClient = createClient ?? (() => new ssh2.Client());
    this.onExecSent = onExecSent;
    this.targets = new Map(Object.entries(parsed.targets));
    this.keepAliveIntervalMs = parsed.keepAliveIntervalMs;
    this.idleCloseMs = parsed.idleCloseMs;
    this.connectTimeoutMs = parsed.connectTimeoutMs;
    this.logger = (logger ?? silentLogger).child({ plugin: 'exec-ssh' });
  }

  hosts(): string[] {
    return [...this.targets.keys()];
  }

  has(name: string): boolean {
    return this.targets.has(name);
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
    return this.targets.get(name) as SshTarget;
  }

  hostKeyPolicy(name: string): HostKeyPolicy {
    return structuredClone(this.target(name).hostKey);
  }

  setHostKeyPolicy(name: string, policy: HostKeyPolicy): void {
    const target = this.target(name);
    const parsed = parseOptions(HostKeyPolicySchema, policy, SCOPE);
    this.targets.set(name, { ...target, hostKey: parsed });
    const entry = this.entries.get(name);
    if (entry !== undefined) {
      entry.alive = false;
      this.entries.delete(name);
      entry.client.end();
    }
    this.logger.warn('ssh host key policy replaced', { target: name, policy: 'fingerprint' in parsed ? parsed.fingerprint : parsed.knownHostsPath });
  }

  run(name: string, command: SshCommand, options: SshRunOptions): Promise<SshRunResult> {
    const line = 'argv' in command ? quoteArgv(command.argv) : command.command;
    const label = 'argv' in command ? String(command.argv[0] ?? '').slice(0, 64) : line.slice(0, 64);
    return runOnChannel((text, execOptions) => this.exec(name, text, execOptions), name, line, { ...options, logger: this.logger, label });
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
    return untilAborted(ready, signal, () => abortedError(name));
  }

  private open(name: string, target: SshTarget, pooled = true): Entry {
    const entry = openConnection(name, target, {
      createClient: this.createClient,
      logger: this.logger,
      connectTimeoutMs: this.connectTimeoutMs,
      keepAliveIntervalMs: this.keepAliveIntervalMs,
      pooled,
      ...(pooled ? { onReady: (entry: Entry) => this.touch(name, entry) } : {}),
      onClose: (closed) => {
        if (this.entries.get(name) === closed) this.entries.delete(name);
      },
    });
    this.connectCount.set(name, (this.connectCount.get(name) ?? 0) + 1);
    return entry;
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
  async exec(name: string, command: string, options: { signal?: AbortSignal; onExecSent?: () => void; onChannel?: (channel: ClientChannel) => void } = {}): Promise<ClientChannel> {
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
    return openExecChannel(client, command, {
      release,
      ...(onChannel === undefined ? {} : { onChannel }),
      onExecSent: () => {
        onExecSent?.();
        this.onExecSent?.(name);
      },
    });
  }

  /**
   * Opens a separate, unpooled connection and reports what is wrong in plain words (for
   * `fish-sre doctor`): unreachable, timeout, authentication refused, host key mismatch/unknown.
   */
  async check(name: string, signal?: AbortSignal): Promise<SshCheckResult> {
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
      return checkFailure(error);
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
      entries.map((entry) => {
        if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
        entry.alive = false;
        return endClient(entry.client, 1000);
      }),
    );
  }
}

/** Creates an SSH connection pool (see `SshPool`). Invalid options throw FISH_ERR_PLUGIN_OPTIONS_INVALID. */
export function createSshPool(options: SshPoolOptionsInput): SshPool {
  return new SshConnectionPool(options);
}
