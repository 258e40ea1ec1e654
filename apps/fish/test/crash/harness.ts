/**
 * Crash-test harness: runs the REAL `fish-sre run` process (apps/fish/dist/cli.js) on a temp
 * world — a one-pattern catalog, a followed .jsonl incident file, the local executor in a sandbox,
 * an SQLite audit file (or one PostgreSQL database shared by several instances) — kills it (FISH_CRASH_AT fault injection or an external SIGKILL) and
 * restarts it on the same files. Every wait is bounded; every child is tracked and killed by
 * `killAllChildren()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApprovalSigner, type AuditStore, type Decision, type EngineCheckpoint, type ExecutionRecord, type ProposalRecord } from '@fish-sre/core';
import { createSqliteAuditStore } from '@fish-sre/audit-sqlite';
import { createPostgresAuditStore } from '@fish-sre/audit-postgres';
import type { NtfyAction, NtfyMessage, NtfyTestServer } from '@fish-sre/testkit';

export const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
export const PATTERN_ID = 'web-down';
export const TARGET = 'penny';

/** Bounded polling: `probe` until it returns something, or fail with `what` after `timeoutMs`. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await new Promise((done) => setTimeout(done, everyMs));
  }
}

/** A free loopback port: bind port 0, read it, release it. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

const children = new Set<FishProcess>();
const worlds = new Set<World>();

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running `fish-sre` process with its captured output. */
export class FishProcess {
  readonly child: ChildProcess;
  output = '';
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;

  /** `persistent`: outlives single tests (one process shared by a describe); ended by disposeWorlds. */
  constructor(
    args: string[],
    env: NodeJS.ProcessEnv,
    readonly persistent = false,
  ) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const take = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.exited = new Promise((done) => {
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal };
        children.delete(this);
        done(this.exit);
      });
    });
    children.add(this);
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Waits for the process to end by itself (e.g. FISH_CRASH_AT), bounded. */
  async waitForExit(timeoutMs = 15_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`fish did not exit within ${timeoutMs} ms; output:\n${this.output.slice(-3000)}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** `kill -9`: no handler runs, nothing is flushed. */
  async kill9(): Promise<Exit> {
    if (this.running) this.child.kill('SIGKILL');
    return this.waitForExit(10_000);
  }

  /** SIGTERM (graceful stop), then SIGKILL if it does not end within `graceMs`. */
  async stop(graceMs = 8_000): Promise<Exit> {
    if (!this.running) return this.exit!;
    this.child.kill('SIGTERM');
    try {
      return await this.waitForExit(graceMs);
    } catch {
      return this.kill9();
    }
  }
}

/** Kills the fish processes a test started (not the persistent ones) and orphaned fix scripts. For afterEach. */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].filter((child) => !child.persistent).map((child) => child.kill9().catch(() => undefined)));
  for (const world of worlds) await world.killOrphanedScripts();
}

/** Removes every world's folder and closes its audit handle. For afterAll. */
export async function disposeWorlds(): Promise<void> {
  await Promise.all([...children].map((child) => child.kill9().catch(() => undefined)));
  for (const world of worlds) await world.killOrphanedScripts();
  for (const world of [...worlds]) await world.dispose();
}

export interface HttpAnswer {
  status: number;
  body: { ok?: boolean; status?: string; message?: string; proposalId?: string } | undefined;
}

/**
 * A temp world fish runs in. The fix script appends its pid to `sandbox/counter.log` (one line per
 * real run) and sleeps for the seconds in `sandbox/fix-sleep`; the verify script appends to
 * `sandbox/verify.log`, sleeps for `sandbox/verify-sleep` and succeeds.
 * Notifications go to an ntfy server (testkit's protocol-faithful one) on a topic of its own:
 * the harness is the phone.
 */
export interface WorldOptions {
  /** Several instances share one PostgreSQL database (its URL) instead of an SQLite file. */
  postgresUrl?: string;
  /** How many fish instances the world has configs for (same sources, catalog, topic and store). @default 1 */
  instances?: number;
  /** `instance.lease` of each config (e.g. `3s`). @default fish's own default */
  lease?: string;
  /** Extra `approval:` settings of each config, e.g. `{ resumeWindow: '1s' }`. */
  approval?: Record<string, string>;
  /** Extra top-level lines of each config, e.g. `auditAnchor: { every: 1s }`. */
  extraConfig?: string;
}

export class World {
  readonly secret = randomBytes(32).toString('base64url');
  readonly signer = new ApprovalSigner(this.secret);
  readonly topic = `fish-crash-${randomBytes(12).toString('hex')}`;
  private audit: (AuditStore & { close(): Promise<void> }) | undefined;
  private lineNumber = 0;

  private constructor(
    readonly dir: string,
    readonly ports: number[],
    readonly ntfy: NtfyTestServer,
    readonly options: WorldOptions,
  ) {}

  static async create(ntfy: NtfyTestServer, options: WorldOptions = {}): Promise<World> {
    const dir = await mkdtemp(join(tmpdir(), 'fish-crash-'));
    const ports: number[] = [];
    for (let index = 0; index < (options.instances ?? 1); index++) ports.push(await freePort());
    const world = new World(dir, ports, ntfy, options);
    worlds.add(world);
    await world.write();
    return world;
  }

  get port() {
    return this.ports[0]!;
  }
  get configPath() {
    return this.configPathOf(0);
  }
  /** Instance 0 reads fish.yaml; instance N, fish-N.yaml (its own port and data folder). */
  configPathOf(instance: number) {
    return join(this.dir, instance === 0 ? 'fish.yaml' : `fish-${instance}.yaml`);
  }
  baseUrlOf(instance: number) {
    return `http://127.0.0.1:${this.ports[instance]!}`;
  }
  get incidentsPath() {
    return join(this.dir, 'incidents.jsonl');
  }
  get sandboxDir() {
    return join(this.dir, 'sandbox');
  }
  get counterPath() {
    return join(this.sandboxDir, 'counter.log');
  }
  get auditPath() {
    return join(this.dir, 'audit.sqlite');
  }
  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  private async write(): Promise<void> {
    const catalog = join(this.dir, 'catalog');
    await mkdir(join(catalog, 'patterns'), { recursive: true });
    await mkdir(join(catalog, 'scripts'), { recursive: true });
    await mkdir(this.sandboxDir, { recursive: true });
    await writeFile(
      join(catalog, 'patterns', `${PATTERN_ID}.yaml`),
      `id: ${PATTERN_ID}
title: Web server down
required_signals:
  - id: refused
    log: { message: 'connect ECONNREFUSED' }
target_host: ${TARGET}
fix: { script: restart-web.sh, timeout: 60s }
verify: { script: check-web.sh, timeout: 60s }
on_failure: escalate
samples:
  match: ['connect ECONNREFUSED 10.0.0.1:80']
`,
    );
    // POSIX sh; runs in the sandbox (the executor's cwd). The pid is the process group id too
    // (the local executor spawns detached), so the harness can end an orphan after kill -9.
    await writeFile(join(catalog, 'scripts', 'restart-web.sh'), '#!/bin/sh\necho "$$ $1" >> counter.log\nsleep "$(cat fix-sleep 2>/dev/null || echo 0)"\necho restarted\n');
    await writeFile(join(catalog, 'scripts', 'check-web.sh'), '#!/bin/sh\necho "$$ $1" >> verify.log\nsleep "$(cat verify-sleep 2>/dev/null || echo 0)"\necho verified\n');
    await chmod(join(catalog, 'scripts', 'restart-web.sh'), 0o755);
    await chmod(join(catalog, 'scripts', 'check-web.sh'), 0o755);
    await writeFile(this.incidentsPath, '');
    await this.setFixSleep(0);
    await this.setVerifySleep(0);
    for (const [instance, port] of this.ports.entries()) {
      const audit = this.options.postgresUrl ? '{ type: postgres, options: { url: "${FISH_DATABASE_URL}", poolSize: 4 } }' : `{ type: sqlite, options: { path: ${this.auditPath} } }`;
      await writeFile(
        this.configPathOf(instance),
        `catalog: ./catalog
dataDir: ${this.dir}/data${instance === 0 ? '' : `-${instance}`}
${this.options.lease ? `instance: { lease: ${this.options.lease} }\n` : ''}approval:
  listen: { host: 127.0.0.1, port: ${port} }
  publicUrl: ${this.baseUrlOf(instance)}
  secret: \${FISH_CRASH_TEST_SECRET}
${Object.entries(this.options.approval ?? {})
  .map(([key, value]) => `  ${key}: ${value}\n`)
  .join('')}sources:
  - type: file
    options: { path: ${this.incidentsPath}, follow: true, pollIntervalMs: 20 }
notifier: { type: ntfy, options: { server: "${this.ntfy.url}", topic: ${this.topic}, timeoutMs: 5000, retries: 1, retryDelayMs: 50 } }
executor:
  type: local
  options: { scriptsDir: ${catalog}/scripts, sandboxDir: ${this.sandboxDir}, hosts: [${TARGET}], killGraceMs: 200 }
audit: ${audit}
metrics: { listen: { host: 127.0.0.1, port: 0 } }
log: { level: info, format: pretty }
${this.options.extraConfig ?? ''}
`,
      );
    }
  }

  /** Rewrites the fix script in the catalog (what an edit or a `git pull` of the catalog does). */
  async rewriteFixScript(body: string): Promise<void> {
    await writeFile(join(this.dir, 'catalog', 'scripts', 'restart-web.sh'), `#!/bin/sh\n${body}\n`);
  }

  /** SIGHUP: fish reloads its catalog; waits (bounded) for the reload to be logged. */
  async reloadCatalog(fish: FishProcess): Promise<void> {
    const before = fish.output.split('catalog reloaded').length;
    fish.child.kill('SIGHUP');
    await waitUntil('the catalog reload', () => fish.output.split('catalog reloaded').length > before);
  }

  async setFixSleep(seconds: number): Promise<void> {
    await writeFile(join(this.sandboxDir, 'fix-sleep'), `${seconds}\n`);
  }

  async setVerifySleep(seconds: number): Promise<void> {
    await writeFile(join(this.sandboxDir, 'verify-sleep'), `${seconds}\n`);
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      FISH_CRASH_TEST_SECRET: this.secret,
      ...(this.options.postgresUrl ? { FISH_DATABASE_URL: this.options.postgresUrl } : {}),
      ...extra,
    };
    if (!extra['FISH_CRASH_AT']) delete env['FISH_CRASH_AT'];
    return env;
  }

  /** Starts `fish-sre run --config` and waits (bounded) until /healthz answers. */
  /** Starts `fish-sre run --config` without waiting for anything (it may die during recovery). */
  spawn(options: { crashAt?: EngineCheckpoint; persistent?: boolean; instance?: number } = {}): FishProcess {
    return new FishProcess(['run', '--config', this.configPathOf(options.instance ?? 0)], this.env(options.crashAt ? { FISH_CRASH_AT: options.crashAt } : {}), options.persistent);
  }

  async start(options: { crashAt?: EngineCheckpoint; timeoutMs?: number; persistent?: boolean; instance?: number } = {}): Promise<FishProcess> {
    const fish = this.spawn(options);
    await waitUntil(
      'fish /healthz',
      async () => {
        if (!fish.running) throw new Error(`fish exited (${JSON.stringify(fish.exit)}) before it was healthy; output:\n${fish.output.slice(-3000)}`);
        const response = await fetch(`${this.baseUrlOf(options.instance ?? 0)}/healthz`, { signal: AbortSignal.timeout(1000) });
        return response.ok && /fish started/.test(fish.output);
      },
      options.timeoutMs ?? 30_000,
    );
    return fish;
  }

  /** Runs a short fish-sre command (audit verify ...) to completion, bounded. */
  async cli(args: string[], timeoutMs = 30_000): Promise<{ exit: Exit; output: string }> {
    const run = new FishProcess([...args, '--config', this.configPath], this.env());
    const exit = await run.waitForExit(timeoutMs);
    return { exit, output: run.output };
  }

  /** Appends one incident line (what the watched service would log). */
  async appendIncident(service: string): Promise<void> {
    this.lineNumber++;
    await appendFile(this.incidentsPath, `${JSON.stringify({ message: `connect ECONNREFUSED 10.0.0.1:80 (#${this.lineNumber})`, host: TARGET, service, level: 'error' })}\n`);
  }

  /** The audit file (or database), read through the same store fish uses. */
  async store(): Promise<AuditStore & { close(): Promise<void> }> {
    if (!this.audit) {
      this.audit = this.options.postgresUrl ? createPostgresAuditStore({ url: this.options.postgresUrl, poolSize: 4 }) : createSqliteAuditStore({ path: this.auditPath });
      await this.audit.init();
    }
    return this.audit;
  }

  async proposals(service?: string): Promise<ProposalRecord[]> {
    const all = await (await this.store()).listProposals({ limit: 1000 });
    return all.filter((proposal) => service === undefined || proposal.service === service);
  }

  async proposal(id: string): Promise<ProposalRecord> {
    const found = await (await this.store()).getProposal(id);
    if (!found) throw new Error(`proposal ${id} is not in the audit file`);
    return found;
  }

  async execution(proposalId: string): Promise<ExecutionRecord | undefined> {
    return (await this.store()).getExecutionByProposal(proposalId);
  }

  async executionsOf(proposalId: string): Promise<ExecutionRecord[]> {
    return (await (await this.store()).listExecutions({ limit: 1000 })).filter((execution) => execution.proposalId === proposalId);
  }

  /** Waits for the single proposal of a service (as written by fish). */
  async waitForProposal(service: string, timeoutMs = 15_000): Promise<ProposalRecord> {
    return waitUntil(`a proposal for ${service}`, async () => (await this.proposals(service))[0], timeoutMs);
  }

  async waitForExecution(proposalId: string, statuses: ExecutionRecord['status'][], timeoutMs = 20_000): Promise<ExecutionRecord> {
    return waitUntil(
      `execution of ${proposalId} in ${statuses.join('/')}`,
      async () => {
        const execution = await this.execution(proposalId);
        return execution && statuses.includes(execution.status) ? execution : undefined;
      },
      timeoutMs,
    );
  }

  /** Lines the fix script appended: one per real run. */
  async counter(): Promise<string[]> {
    return (await readFile(this.counterPath, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  }

  /** The token the phone would carry: signed with the config's secret, expiring with the proposal. */
  token(proposal: ProposalRecord, decision: Decision): string {
    return this.signer.sign(proposal.id, decision, Date.parse(proposal.expiresAt));
  }

  /** POSTs a decision exactly as the ntfy action button does (no Origin, JSON answer). */
  async post(decision: Decision, token: string, timeoutMs = 10_000, instance = 0): Promise<HttpAnswer> {
    const response = await fetch(`${this.baseUrlOf(instance)}/${decision}/${encodeURIComponent(token)}`, {
      method: 'POST',
      headers: { 'user-agent': 'ntfy/1.16.0 (Android)' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: HttpAnswer['body'];
    try {
      body = JSON.parse(text) as HttpAnswer['body'];
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  }

  /** What the phone received on this world's topic, oldest first. */
  phoneMessages(): NtfyMessage[] {
    return this.ntfy.messagesFor(this.topic);
  }

  /** The proposal notifications for one proposal (each carries Approve/Deny/Details actions). */
  phoneProposals(proposalId: string): NtfyMessage[] {
    return this.phoneMessages().filter((message) => message.click?.endsWith(`/proposals/${proposalId}`) && message.actions?.some((action) => action.label === 'Approve'));
  }

  /** Waits until the phone has received `count` proposal notifications for a proposal; returns the newest. */
  async waitForPhoneProposal(proposalId: string, count = 1, timeoutMs = 15_000): Promise<NtfyMessage> {
    return waitUntil(
      `proposal ${proposalId} notification #${count} on the phone`,
      () => {
        const found = this.phoneProposals(proposalId);
        return found.length >= count ? found[found.length - 1] : undefined;
      },
      timeoutMs,
    );
  }

  async waitForPhoneMessage(title: RegExp, timeoutMs = 15_000): Promise<NtfyMessage> {
    return waitUntil(`a phone notification titled ${title}`, () => this.phoneMessages().find((message) => title.test(message.title ?? '')), timeoutMs);
  }

  /** Taps an ntfy http action button: the request the ntfy app makes. */
  async tap(message: NtfyMessage, label: 'Approve' | 'Deny', timeoutMs = 10_000): Promise<HttpAnswer> {
    const action: NtfyAction | undefined = message.actions?.find((candidate) => candidate.label === label);
    if (!action || action.action !== 'http' || !action.url) throw new Error(`the notification has no http "${label}" action`);
    const response = await fetch(action.url, {
      method: action.method ?? 'POST',
      headers: { ...(action.headers ?? {}), 'user-agent': 'ntfy/1.16.0 (Android)' },
      ...(action.body ? { body: action.body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: HttpAnswer['body'];
    try {
      body = JSON.parse(text) as HttpAnswer['body'];
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  }

  /** Lines the verify script appended: one per real run. */
  async verifyRuns(): Promise<string[]> {
    return (await readFile(join(this.sandboxDir, 'verify.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  }

  /** Ends fix scripts left running by a killed fish (each is its own process group). */
  async killOrphanedScripts(): Promise<void> {
    for (const line of [...(await this.counter()), ...(await this.verifyRuns())]) {
      const pid = Number(line.split(' ')[0]);
      if (!Number.isInteger(pid) || pid <= 1) continue;
      // Only a process that is still our fix script (pids get reused).
      const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (!command.includes(join(this.dir, 'catalog', 'scripts', 'restart-web.sh')) && !command.includes(join(this.dir, 'catalog', 'scripts', 'check-web.sh'))) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  async dispose(): Promise<void> {
    await this.audit?.close?.();
    this.audit = undefined;
    worlds.delete(this);
    await rm(this.dir, { recursive: true, force: true });
  }
}
