import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './plugin.js';

export interface TestPostgresOptions {
  /**
   * fsync commits to disk. Off by default: tests restart the server cleanly (a clean shutdown
   * writes everything), and fsync on a shared CI disk only makes them slow. @default false
   */
  fsync?: boolean;
  /** How long to wait for the server to accept connections. @default 60000 */
  startTimeoutMs?: number;
}

export interface TestPostgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The superuser the cluster was created with (password authentication, scram-sha-256). */
  readonly adminUser: string;
  readonly adminPassword: string;
  /** The server's major version, e.g. 15. */
  readonly version: number;
  /** A connection URL for a database; the superuser's unless credentials are given. */
  url(database: string, credentials?: { user: string; password: string }): string;
  /** Creates an empty database (a fresh name unless given) and answers its superuser URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs one statement as the superuser (on `postgres` unless a database is named). */
  query<Row = Record<string, unknown>>(text: string, values?: unknown[], database?: string): Promise<Row[]>;
  /** A clean stop (fast shutdown: sessions are ended, committed data is kept) then a start on the same port. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

/** The newest PostgreSQL server binaries of the Debian packaging, or FISH_TEST_PG_BIN. */
function findBinaries(): string {
  const configured = process.env['FISH_TEST_PG_BIN'];
  if (configured) return configured;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error('PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: install the Debian package "postgresql" (or set FISH_TEST_PG_BIN)');
  return join(root, versions[0]!, 'bin');
}

/**
 * PostgreSQL refuses to run as root. When the tests run as root, the server runs as `nobody`
 * (setpriv drops the user, the group and the supplementary groups), owning only its temp folder.
 */
function dropPrivileges(): { prefix: string[]; uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return { prefix: [] };
  const uid = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) throw new Error('running as root and no unprivileged "nobody" user to run PostgreSQL as');
  return { prefix: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'], uid, gid };
}

function run(prefix: string[], command: string, args: string[]): void {
  const [program, ...rest] = [...prefix, command, ...args];
  const result = spawnSync(program!, rest, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (result.status !== 0) throw new Error(`${command} failed (${result.status ?? result.signal}): ${(result.stderr || result.stdout).slice(-2000)}`);
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A real PostgreSQL server for tests: `initdb` in a temp folder, `postgres` on a free loopback
 * port (no Unix socket), password authentication for a generated superuser. Run by an
 * unprivileged user when the tests run as root. `stop()` ends it and removes everything.
 */
export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const bin = findBinaries();
  const privileges = dropPrivileges();
  const folder = mkdtempSync(join(tmpdir(), 'fish-pg-'));
  const dataDir = join(folder, 'data');
  const adminUser = 'fish_admin';
  const adminPassword = randomBytes(18).toString('base64url');
  const passwordFile = join(folder, 'password');
  writeFileSync(passwordFile, `${adminPassword}\n`, { mode: 0o600 });
  if (privileges.uid !== undefined) {
    chownSync(folder, privileges.uid, privileges.gid!);
    chownSync(passwordFile, privileges.uid, privileges.gid!);
  }
  try {
    run(privileges.prefix, join(bin, 'initdb'), ['-D', dataDir, '-U', adminUser, `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync']);
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
  rmSync(passwordFile, { force: true });
  const version = Number(/^\d+/.exec(spawnSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.replace(/^\D+/, ''))?.[0] ?? 0);
  const port = await freePort();
  let server: ChildProcess | undefined;
  let log = '';

  async function launch(): Promise<void> {
    const [program, ...rest] = [
      ...privileges.prefix,
      join(bin, 'postgres'),
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      `fsync=${options.fsync ? 'on' : 'off'}`,
      '-c',
      'max_connections=200',
      '-c',
      'log_min_messages=warning',
    ];
    const child = spawn(program!, rest, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    server = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`PostgreSQL did not start within ${options.startTimeoutMs ?? 60_000} ms:\n${log.slice(-2000)}`)), options.startTimeoutMs ?? 60_000);
      child.stderr!.on('data', (chunk: Buffer) => {
        log = (log + chunk.toString('utf8')).slice(-20_000);
        if (/ready to accept connections/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`PostgreSQL exited (${code ?? signal}) before accepting connections:\n${log.slice(-2000)}`));
      });
    });
  }

  async function halt(): Promise<void> {
    const child = server;
    server = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGINT'); // fast shutdown: ends sessions, writes a checkpoint
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  await launch().catch((error: unknown) => {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  });

  const url = (database: string, credentials = { user: adminUser, password: adminPassword }) =>
    `postgres://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  let databases = 0;

  const instance: TestPostgres = {
    host: '127.0.0.1',
    port,
    adminUser,
    adminPassword,
    version,
    url,
    async query<Row>(text: string, values: unknown[] = [], database = 'postgres') {
      const client = new pg.Client({ connectionString: url(database) });
      await client.connect();
      try {
        return (await client.query(text, values)).rows as Row[];
      } finally {
        await client.end();
      }
    },
    async createDatabase(name = `fish_test_${process.pid}_${++databases}_${randomBytes(3).toString('hex')}`) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name ${JSON.stringify(name)}: use lowercase letters, digits and _`);
      await instance.query(`create database ${name}`);
      return url(name);
    },
    async restart(restartOptions = {}) {
      await halt();
      if (restartOptions.downMs) await new Promise((resolve) => setTimeout(resolve, restartOptions.downMs));
      await launch();
    },
    async stop() {
      await halt();
      rmSync(folder, { recursive: true, force: true });
    },
  };
  return instance;
}
