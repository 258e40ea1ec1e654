import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * A real OpenSSH `sshd` (Debian `openssh-server`) on 127.0.0.1, for tests that must not mock
 * anything between an SSH client and the target host: throwaway host key and client key, its own
 * sshd_config, an authorized_keys line carrying `command="..."` and `restrict`.
 */
export interface TestSshdOptions {
  /** The forced command for the client key (`command="..."`); without it the key gets a shell. */
  forcedCommand?: string;
  /** Extra authorized_keys options, e.g. `['from="127.0.0.1"']`. `restrict` is always added. */
  authorizedKeyOptions?: string[];
  /** Environment for sessions, through sshd_config `SetEnv` (values: no quotes, no spaces). HOME defaults to the temp folder. */
  env?: Record<string, string>;
  /** Path of the sshd binary. @default '/usr/sbin/sshd' */
  sshdPath?: string;
  /** Extra sshd_config lines. */
  extraConfig?: string[];
  /**
   * Log in as this user instead of the current one (it must exist; root only). The temp folder
   * and authorized_keys are then made world-readable so sshd can read them as that user.
   */
  username?: string;
  /** sshd LogLevel. @default 'VERBOSE' */
  logLevel?: string;
}

export interface TestSshd {
  host: string;
  port: number;
  username: string;
  /** OpenSSH-format private key of the client (unencrypted). */
  privateKey: string;
  privateKeyPath: string;
  /** `SHA256:...` of the current host key, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** `[127.0.0.1]:port ssh-ed25519 AAAA...` for a known_hosts file. */
  knownHostsLine: string;
  /** Temporary folder holding keys, config and logs (removed by stop() unless `remove: false`). */
  dir: string;
  /** What sshd printed (its log, with -e). */
  logs(): string;
  /** Pids of the per-connection sshd processes (children of the listener). */
  sessionPids(): number[];
  /** Kills every per-connection process (open connections die) but keeps the listener. */
  dropConnections(): void;
  /** Stops the listener and every process below it (sessions, commands). */
  stop(options?: { remove?: boolean }): Promise<void>;
  /** Stops and starts again on the same port; `newHostKey` generates a fresh host key first. */
  restart(options?: { newHostKey?: boolean }): Promise<void>;
}

function fingerprintOf(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function keygen(path: string, comment: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { stdio: 'ignore' });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something on host:port answers with an SSH banner, or rejects after `ms`. */
async function waitForBanner(port: number, ms: number, isDead: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  let lastError = 'no answer';
  while (Date.now() < deadline) {
    if (isDead()) throw new Error('sshd exited');
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 1000);
      socket.once('data', (data) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(data.toString('latin1').startsWith('SSH-'));
      });
      socket.once('error', (error) => {
        lastError = error.message;
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not answer on 127.0.0.1:${port} within ${ms} ms (${lastError})`);
}

function childrenMap(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = map.get(ppid) ?? [];
      list.push(Number(entry));
      map.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  return map;
}

function descendants(pid: number): number[] {
  const map = childrenMap();
  const out: number[] = [];
  const queue = [...(map.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    out.push(next);
    queue.push(...(map.get(next) ?? []));
  }
  return out;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export async function startTestSshd(options: TestSshdOptions = {}): Promise<TestSshd> {
  const sshdPath = options.sshdPath ?? '/usr/sbin/sshd';
  if (!existsSync(sshdPath)) throw new Error(`${sshdPath} not found: apt-get install -y openssh-server`);
  // sshd refuses to start without its privilege separation directory.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'fish-sshd-'));
  const username = options.username ?? userInfo().username;
  const hostKeyPath = join(dir, 'host_ed25519');
  const clientKeyPath = join(dir, 'client_ed25519');
  keygen(hostKeyPath, 'fish-test-host');
  keygen(clientKeyPath, 'fish-test-client');
  const clientPublic = readFileSync(`${clientKeyPath}.pub`, 'utf8').trim();
  const keyOptions = ['restrict', ...(options.authorizedKeyOptions ?? [])];
  if (options.forcedCommand !== undefined) {
    keyOptions.push(`command="${options.forcedCommand.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  }
  writeFileSync(join(dir, 'authorized_keys'), `${keyOptions.join(',')} ${clientPublic}\n`, { mode: 0o600 });
  if (username !== userInfo().username) {
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'authorized_keys'), 0o644);
  }

  // HOME points at the temp folder: when the login shell is bash, it sources ~/.bashrc for commands
  // run by sshd (Debian builds it with SSH_SOURCE_BASHRC), and a developer's rc file (pyenv, nvm...)
  // would add hundreds of milliseconds to every session. SetEnv overrides sshd's own HOME.
  const envLines = Object.entries({ HOME: dir, ...options.env }).map(([key, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || /["\n\r\s\\]/.test(value)) throw new Error(`startTestSshd: env ${key} cannot go through SetEnv`);
    return `${key}=${value}`;
  });

  const state: { process: ChildProcess | undefined; exited: boolean; port: number; log: string } = { process: undefined, exited: true, port: 0, log: '' };

  const writeConfig = (port: number) => {
    const lines = [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyPath}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin yes',
      'PrintMotd no',
      'PrintLastLog no',
      'MaxSessions 64',
      'MaxStartups 200',
      'MaxAuthTries 6',
      'LoginGraceTime 20',
      `LogLevel ${options.logLevel ?? 'VERBOSE'}`,
      ...(envLines.length > 0 ? [`SetEnv ${envLines.join(' ')}`] : []),
      ...(options.extraConfig ?? []),
    ];
    writeFileSync(join(dir, 'sshd_config'), `${lines.join('\n')}\n`);
  };

  const launch = async (port: number) => {
    writeConfig(port);
    const child = spawn(sshdPath, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    state.process = child;
    state.exited = false;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      state.log += chunk;
      if (state.log.length > 2_000_000) state.log = state.log.slice(-1_000_000);
    });
    child.once('exit', () => {
      state.exited = true;
    });
    try {
      await waitForBanner(port, 10_000, () => state.exited);
      state.port = port;
    } catch (error) {
      killQuietly(child.pid ?? 0, 'SIGKILL');
      throw new Error(`startTestSshd: ${(error as Error).message}\n${state.log.slice(-2000)}`);
    }
  };

  let lastError: unknown;
  for (let attempt = 0; attempt < 5 && state.port === 0; attempt++) {
    try {
      await launch(await freePort());
    } catch (error) {
      lastError = error;
    }
  }
  if (state.port === 0) throw lastError;

  const stopProcesses = async () => {
    const child = state.process;
    if (child === undefined || child.pid === undefined) return;
    const below = descendants(child.pid);
    if (!state.exited) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      killQuietly(child.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
      if (!state.exited) killQuietly(child.pid, 'SIGKILL');
    }
    for (const pid of below) killQuietly(pid, 'SIGKILL');
  };

  const sshd: TestSshd = {
    host: '127.0.0.1',
    get port() {
      return state.port;
    },
    username,
    privateKey: readFileSync(clientKeyPath, 'utf8'),
    privateKeyPath: clientKeyPath,
    get hostKeyFingerprint() {
      return fingerprintOf(readFileSync(`${hostKeyPath}.pub`, 'utf8'));
    },
    get knownHostsLine() {
      const [type, key] = readFileSync(`${hostKeyPath}.pub`, 'utf8').trim().split(/\s+/);
      return `[127.0.0.1]:${state.port} ${type} ${key}`;
    },
    dir,
    logs: () => state.log,
    sessionPids: () => (state.process?.pid === undefined ? [] : (childrenMap().get(state.process.pid) ?? [])),
    dropConnections: () => {
      for (const pid of sshd.sessionPids()) killQuietly(pid, 'SIGKILL');
    },
    stop: async (stopOptions = {}) => {
      await stopProcesses();
      if (stopOptions.remove !== false) rmSync(dir, { recursive: true, force: true });
    },
    restart: async (restartOptions = {}) => {
      await stopProcesses();
      if (restartOptions.newHostKey === true) keygen(hostKeyPath, 'fish-test-host');
      const port = state.port;
      let error: unknown;
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          await launch(port);
          return;
        } catch (caught) {
          error = caught;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      throw error;
    },
  };
  return sshd;
}
