import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode } from '@fish-sre/core';
import { executionRequest, processAlive, startTestSshd, waitFor, type TestSshd } from '@fish-sre/testkit';
import { createSshExecutor, sshExecutorPlugin, type HostKeyPolicy, type SshExecutor } from '../src/index.js';
import { startWrapperHost, type WrapperHost } from './helpers.js';

const SCRIPTS = [
  { patternId: 'say', script: 'say.sh', content: `#!/bin/sh\necho "$1" >> "$(dirname "$0")/../runs.log"\necho "said $1"\n` },
  { patternId: 'fail', script: 'fail.sh', content: '#!/bin/sh\necho broken >&2\nexit 3\n' },
  {
    patternId: 'long',
    script: 'long.sh',
    // The pid first: once long.log exists, long.pid is complete (the test reads it after a cancel).
    content: `#!/bin/sh\necho $$ > "$(dirname "$0")/../long.pid"\necho started >> "$(dirname "$0")/../long.log"\nsleep 5\necho finished >> "$(dirname "$0")/../long.log"\n`,
  },
  {
    patternId: 'span',
    script: 'span.sh',
    content: `#!/bin/sh\nstart=$(date +%s%N)\nsleep 2\necho "$1 $start $(date +%s%N)"\n`,
  },
  { patternId: 'stubborn', script: 'stubborn.sh', content: `#!/bin/sh\ntrap '' TERM\necho $$ > "$(dirname "$0")/../stubborn.pid"\nwhile :; do sleep 0.2; done\n` },
];

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

const req = executionRequest;

/** A loopback TCP proxy that can cut the next connection as soon as the client sends anything. */
class CuttingProxy {
  private server: Server | undefined;
  private armed = false;
  port = 0;
  cuts = 0;
  constructor(private readonly upstreamPort: number) {}
  async start(): Promise<void> {
    this.server = createServer((downstream: Socket) => {
      const upstream = netConnect({ host: '127.0.0.1', port: this.upstreamPort });
      downstream.on('data', (chunk) => {
        if (this.armed) {
          this.armed = false;
          this.cuts += 1;
          downstream.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => downstream.write(chunk));
      downstream.on('error', () => upstream.destroy());
      upstream.on('error', () => downstream.destroy());
      downstream.on('close', () => upstream.destroy());
      upstream.on('close', () => downstream.destroy());
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    const address = this.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
  }
  /** The next bytes the client sends on an existing connection kill that connection. */
  arm(): void {
    this.armed = true;
  }
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

describe('SSH executor against a real sshd and the real wrapper', () => {
  let hostA: WrapperHost;
  let hostB: WrapperHost;
  let executor: SshExecutor;
  const executorFor = (a: WrapperHost, extra: Record<string, unknown> = {}) =>
    createSshExecutor({
      targets: {
        alpha: { host: '127.0.0.1', port: a.sshd.port, username: a.sshd.username, privateKey: a.sshd.privateKey, hostKey: { fingerprint: a.sshd.hostKeyFingerprint } },
        beta: { host: '127.0.0.1', port: hostB.sshd.port, username: hostB.sshd.username, privateKeyPath: hostB.sshd.privateKeyPath, hostKey: { fingerprint: hostB.sshd.hostKeyFingerprint } },
      },
      keepAliveIntervalMs: 0,
      killGraceMs: 3000,
      ...extra,
    });

  beforeAll(async () => {
    [hostA, hostB] = await Promise.all([startWrapperHost({ scripts: SCRIPTS }), startWrapperHost({ scripts: SCRIPTS })]);
    executor = executorFor(hostA);
  });

  afterAll(async () => {
    await executor?.close();
    for (const host of [hostA, hostB]) {
      for (const name of ['long.pid', 'stubborn.pid']) {
        const file = join(host?.dir ?? '/nonexistent', name);
        if (existsSync(file)) {
          const pid = Number(readFileSync(file, 'utf8'));
          if (pid > 1 && processAlive(pid)) process.kill(pid, 'SIGKILL');
        }
      }
    }
    await hostA?.stop();
    await hostB?.stop();
  });

  it('runs on the pooled connection: several runs, one handshake', async () => {
    const first = await executor.run(req('alpha', 'say', 'say.sh'));
    const second = await executor.run(req('alpha', 'say', 'say.sh', { verb: 'rollback' }));
    expect(first).toMatchObject({ exitCode: 0, stdout: 'said run\n', timedOut: false });
    expect(second.stdout).toBe('said rollback\n');
    expect(executor.pool.connectCount.get('alpha')).toBe(1);
    expect(executor.pool.isConnected('alpha')).toBe(true);
    const failed = await executor.run(req('alpha', 'fail', 'fail.sh'));
    expect(failed).toMatchObject({ exitCode: 3, stderr: 'broken\n', timedOut: false });
  });

  it('runs the script only when the installed file is the one the proposal showed (its pinned sha256)', async () => {
    const installed = SCRIPTS.find((entry) => entry.patternId === 'say')!.content;
    const shown = createHash('sha256').update(installed).digest('hex');
    const runs = () => (existsSync(join(hostA.dir, 'runs.log')) ? readFileSync(join(hostA.dir, 'runs.log'), 'utf8') : '');
    const before = runs();
    expect(await executor.run(req('alpha', 'say', 'say.sh', { expectedSha256: shown }))).toMatchObject({ exitCode: 0, stdout: 'said run\n' });
    expect(runs()).toBe(`${before}run\n`);
    // The catalog on the fish host was changed (or the target holds an older copy): refused, nothing runs.
    const other = createHash('sha256').update(`${installed}# edited\n`).digest('hex');
    const error = await caught(executor.run(req('alpha', 'say', 'say.sh', { expectedSha256: other })));
    expect(FishError.hasCode(error, FishErrorCode.EXECUTOR_REFUSED), String(error)).toBe(true);
    expect((error as FishError).details['scriptChanged']).toEqual({ expected: other, actual: shown });
    expect((error as FishError).message).toContain('is not the script the proposal showed');
    expect(runs()).toBe(`${before}run\n`);
    // Not a digest: refused before anything is sent.
    expect(FishError.hasCode(await caught(executor.run(req('alpha', 'say', 'say.sh', { expectedSha256: 'A'.repeat(64) }))), FishErrorCode.EXECUTOR_REFUSED)).toBe(true);
  });

  it('refuses invalid requests and unknown hosts without any I/O', async () => {
    const fresh = executorFor(hostA);
    try {
      expect(FishError.hasCode(await caught(fresh.run(req('alpha', 'say;id', 'say.sh'))), FishErrorCode.EXECUTOR_REFUSED)).toBe(true);
      expect(FishError.hasCode(await caught(fresh.run(req('alpha', 'say', '../say.sh'))), FishErrorCode.EXECUTOR_REFUSED)).toBe(true);
      expect(FishError.hasCode(await caught(fresh.run(req('alpha', 'say', 'say.sh', { timeoutMs: 0 }))), FishErrorCode.EXECUTOR_REFUSED)).toBe(true);
      expect(FishError.hasCode(await caught(fresh.run(req('127.0.0.1', 'say', 'say.sh'))), FishErrorCode.TARGET_NOT_ALLOWED)).toBe(true);
      expect(fresh.pool.connectCount.size).toBe(0);
    } finally {
      await fresh.close();
    }
  });

  it('OpenSSH refuses channel signals for forced-command sessions; the wrapper cancel still kills a TERM-ignoring script', async () => {
    const pidFile = join(hostA.dir, 'stubborn.pid');
    const result = await executor.run(req('alpha', 'stubborn', 'stubborn.sh', { timeoutMs: 800 }));
    expect(result.timedOut).toBe(true);
    // 137: the wrapper's `timeout -k` had to KILL the group because TERM was ignored.
    expect(result.exitCode).toBe(137);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(await waitFor(() => !processAlive(pid), 5000)).toBe(true);
    expect(hostA.sshd.logs()).toMatch(/refusing to send signal TERM to forced-command session/);
  }, 30_000);

  it('reconnects after sshd restarts under the pool (the pooled connection died)', async () => {
    await executor.run(req('alpha', 'say', 'say.sh'));
    const before = executor.pool.connectCount.get('alpha') ?? 0;
    await hostA.sshd.restart();
    const result = await executor.run(req('alpha', 'say', 'say.sh', { verb: 'verify' }));
    expect(result).toMatchObject({ exitCode: 0, stdout: 'said verify\n' });
    expect(executor.pool.connectCount.get('alpha')).toBe(before + 1);
  }, 30_000);

  it('retries once when the connection dies before the channel opens, and the script runs exactly once', async () => {
    const proxy = new CuttingProxy(hostA.sshd.port);
    await proxy.start();
    const viaProxy = createSshExecutor({
      targets: { alpha: { host: '127.0.0.1', port: proxy.port, username: hostA.sshd.username, privateKey: hostA.sshd.privateKey, hostKey: { fingerprint: hostA.sshd.hostKeyFingerprint } } },
      keepAliveIntervalMs: 0,
    });
    try {
      await viaProxy.run(req('alpha', 'say', 'say.sh'));
      const runsBefore = readFileSync(join(hostA.dir, 'runs.log'), 'utf8');
      proxy.arm();
      const result = await viaProxy.run(req('alpha', 'say', 'say.sh', { verb: 'verify' }));
      expect(result).toMatchObject({ exitCode: 0, stdout: 'said verify\n' });
      expect(proxy.cuts).toBe(1);
      expect(viaProxy.pool.connectCount.get('alpha')).toBe(2);
      expect(readFileSync(join(hostA.dir, 'runs.log'), 'utf8')).toBe(`${runsBefore}verify\n`);
    } finally {
      await viaProxy.close();
      await proxy.stop();
    }
  }, 30_000);

  it('a silently dead connection (sshd frozen) is caught by keep-alive and the run retries on a new one', async () => {
    const hostC = await startWrapperHost({ scripts: SCRIPTS });
    const frozen: number[] = [];
    const ka = createSshExecutor({
      targets: { gamma: { host: '127.0.0.1', port: hostC.sshd.port, username: hostC.sshd.username, privateKey: hostC.sshd.privateKey, hostKey: { fingerprint: hostC.sshd.hostKeyFingerprint } } },
      keepAliveIntervalMs: 250,
    });
    try {
      expect((await ka.run(req('gamma', 'say', 'say.sh'))).exitCode).toBe(0);
      // Freeze the session process: the TCP connection stays open but nothing answers.
      frozen.push(...hostC.sshd.sessionPids());
      expect(frozen.length).toBeGreaterThan(0);
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
      const result = await ka.run(req('gamma', 'say', 'say.sh', { verb: 'verify' }));
      expect(result).toMatchObject({ exitCode: 0, stdout: 'said verify\n' });
      expect(ka.pool.connectCount.get('gamma')).toBe(2);
      expect(readFileSync(join(hostC.dir, 'runs.log'), 'utf8')).toBe('run\nverify\n');
    } finally {
      for (const pid of frozen) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone
        }
      }
      await ka.close();
      await hostC.stop();
    }
  }, 30_000);

  it('never retries a command that started: connection lost mid-run is an error, the script ran once', async () => {
    const longLog = join(hostA.dir, 'long.log');
    rmSync(longLog, { force: true });
    const pending = caught(executor.run(req('alpha', 'long', 'long.sh')));
    expect(await waitFor(() => existsSync(longLog), 10_000)).toBe(true);
    hostA.sshd.dropConnections();
    const error = await pending;
    expect(FishError.hasCode(error, FishErrorCode.EXECUTOR_CONNECTION)).toBe(true);
    expect((error as FishError).details.mayHaveStarted).toBe(true);
    // The dropped session closed the wrapper's stdin: it cancelled the script.
    const pid = Number(readFileSync(join(hostA.dir, 'long.pid'), 'utf8'));
    expect(await waitFor(() => !processAlive(pid), 5000)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(readFileSync(longLog, 'utf8')).toBe('started\n');
    // The next run opens a new connection and works.
    expect((await executor.run(req('alpha', 'say', 'say.sh'))).exitCode).toBe(0);
  }, 30_000);

  it('runs two hosts in parallel on separate connections', async () => {
    const [a, b] = await Promise.all([executor.run(req('alpha', 'span', 'span.sh')), executor.run(req('beta', 'span', 'span.sh', { verb: 'verify' }))]);
    const [, aStart, aEnd] = a.stdout.trim().split(' ').map(Number) as [number, number, number];
    const [, bStart, bEnd] = b.stdout.trim().split(' ').map(Number) as [number, number, number];
    expect(a.stdout.startsWith('run ')).toBe(true);
    expect(b.stdout.startsWith('verify ')).toBe(true);
    // The two two-second scripts overlapped in time.
    expect(aStart < bEnd && bStart < aEnd).toBe(true);
    expect(executor.pool.connectCount.get('beta')).toBe(1);
  }, 30_000);

  it('runs concurrent channels on one connection, each with its own output', async () => {
    const before = executor.pool.connectCount.get('alpha');
    const verbs = ['run', 'verify', 'rollback', 'run', 'verify', 'rollback'] as const;
    const results = await Promise.all(verbs.map((verb) => executor.run(req('alpha', 'span', 'span.sh', { verb }))));
    const spans = results.map((result, i) => {
      const [verb, start, end] = result.stdout.trim().split(' ');
      expect(verb).toBe(verbs[i]);
      expect(result.exitCode).toBe(0);
      return [Number(start), Number(end)] as const;
    });
    const latestStart = Math.max(...spans.map((s) => s[0]));
    const earliestEnd = Math.min(...spans.map((s) => s[1]));
    expect(latestStart).toBeLessThan(earliestEnd);
    expect(executor.pool.connectCount.get('alpha')).toBe(before);
  }, 30_000);

  it('closes an idle pooled connection and reopens it on the next run', async () => {
    const idle = executorFor(hostA, { idleCloseMs: 300 });
    try {
      expect((await idle.run(req('alpha', 'say', 'say.sh'))).exitCode).toBe(0);
      expect(idle.pool.isConnected('alpha')).toBe(true);
      expect(await waitFor(() => !idle.pool.isConnected('alpha'), 5000)).toBe(true);
      expect((await idle.run(req('alpha', 'say', 'say.sh'))).exitCode).toBe(0);
      expect(idle.pool.connectCount.get('alpha')).toBe(2);
    } finally {
      await idle.close();
    }
  });

  it('check() says ok for a good target and names what is wrong otherwise', async () => {
    const good = await executor.check('alpha');
    expect(good.ok).toBe(true);
    expect(good.detail).toContain('fish-wrapper is the forced command');
    const broken = createSshExecutor({
      targets: {
        closed: { host: '127.0.0.1', port: 1, username: 'root', privateKey: hostA.sshd.privateKey, hostKey: { fingerprint: hostA.sshd.hostKeyFingerprint } },
        wrongkey: { host: '127.0.0.1', port: hostA.sshd.port, username: hostA.sshd.username, privateKey: hostB.sshd.privateKey, hostKey: { fingerprint: hostA.sshd.hostKeyFingerprint } },
        spoofed: { host: '127.0.0.1', port: hostA.sshd.port, username: hostA.sshd.username, privateKey: hostA.sshd.privateKey, hostKey: { fingerprint: hostB.sshd.hostKeyFingerprint } },
      },
      connectTimeoutMs: 5000,
    });
    try {
      const closed = await broken.check('closed');
      expect(closed.ok).toBe(false);
      expect(closed.detail).toMatch(/^unreachable: .*ECONNREFUSED/);
      const wrongKey = await broken.check('wrongkey');
      expect(wrongKey.detail).toMatch(/^authentication refused/);
      const spoofed = await broken.check('spoofed');
      expect(spoofed.detail).toMatch(/^host key mismatch: .*127\.0\.0\.1/);
      expect(spoofed.detail).toContain(hostA.sshd.hostKeyFingerprint);
      expect((await broken.check('nope')).ok).toBe(false);
    } finally {
      await broken.close();
    }
  }, 30_000);

  it('the plugin descriptor validates options and creates the executor', async () => {
    expect(sshExecutorPlugin).toMatchObject({ kind: 'executor', type: 'ssh', specificationVersion: 'v1' });
    expect(sshExecutorPlugin.optionsSchema.safeParse({ targets: { x: { host: 'example.com', username: 'fish', privateKey: 'k', hostKey: { knownHostsPath: '/k' } } } }).success).toBe(false);
    expect(sshExecutorPlugin.optionsSchema.safeParse({ targets: { x: { host: '10.0.0.1', username: 'fish', hostKey: { knownHostsPath: '/k' } } } }).success).toBe(false);
    const parsed = sshExecutorPlugin.optionsSchema.parse({ targets: { x: { host: '10.0.0.1', username: 'fish', privateKeyPath: '/k', hostKey: { fingerprint: hostA.sshd.hostKeyFingerprint } } } });
    expect(parsed).toMatchObject({ killGraceMs: 5000, outputLimitBytes: 65536, targets: { x: { port: 22 } } });
    const invalid = (() => {
      try {
        createSshExecutor({ targets: { x: { host: 'penny.lan', username: 'fish', privateKey: 'k', hostKey: { knownHostsPath: '/k' } } } });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(FishError.hasCode(invalid, FishErrorCode.PLUGIN_OPTIONS_INVALID)).toBe(true);
    expect((invalid as Error).message).toContain('targets.x.host');
  });
});

describe('host key policy against a real sshd', () => {
  let sshd: TestSshd;
  let dir: string;
  const target = (hostKey: HostKeyPolicy) => ({ host: '127.0.0.1', port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, hostKey });

  beforeAll(async () => {
    sshd = await startTestSshd({ forcedCommand: 'echo "ran $SSH_ORIGINAL_COMMAND"' });
    dir = mkdtempSync(join(tmpdir(), 'fish-known-hosts-'));
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('strict known_hosts: accepts the recorded key, refuses an unknown host', async () => {
    const known = join(dir, 'known_hosts');
    writeFileSync(known, `# fish targets\n${sshd.knownHostsLine}\n`);
    const ok = createSshExecutor({ targets: { t: target({ knownHostsPath: known }) } });
    const unknown = createSshExecutor({ targets: { t: target({ knownHostsPath: join(dir, 'empty') }) } });
    try {
      expect((await ok.run(req('t', 'some-id', 'x.sh'))).stdout).toBe('ran run some-id x.sh\n');
      const error = await caught(unknown.run(req('t', 'some-id', 'x.sh')));
      expect(FishError.hasCode(error, FishErrorCode.EXECUTOR_HOST_KEY)).toBe(true);
      expect((error as Error).message).toContain('unknown');
      expect((error as Error).message).toContain(sshd.hostKeyFingerprint);
    } finally {
      await ok.close();
      await unknown.close();
    }
  });

  it('never loses the exit status of a command that ends at once (exit arrives with the exec reply)', async () => {
    const executor = createSshExecutor({ targets: { t: target({ fingerprint: sshd.hostKeyFingerprint }) } });
    try {
      const results = [];
      for (let i = 0; i < 25; i++) results.push(await executor.run(req('t', 'fast-id', 'x.sh', { verb: 'verify' })));
      results.push(...(await Promise.all(Array.from({ length: 10 }, () => executor.run(req('t', 'fast-id', 'x.sh'))))));
      for (const result of results) {
        expect(result.exitCode).toBe(0);
        expect(result.stdout).toMatch(/^ran (run|verify) fast-id x\.sh\n$/);
      }
    } finally {
      await executor.close();
    }
  }, 30_000);

  it('check() warns when the key is not restricted to fish-wrapper', async () => {
    const executor = createSshExecutor({ targets: { t: target({ fingerprint: sshd.hostKeyFingerprint }) } });
    try {
      const result = await executor.check('t');
      expect(result.ok).toBe(false);
      expect(result.detail).toContain('NOT restricted to fish-wrapper');
    } finally {
      await executor.close();
    }
  });

  it('TOFU writes known_hosts, then a changed host key is refused with the host and presented fingerprint', async () => {
    const known = join(dir, 'tofu_known_hosts');
    const tofu = createSshExecutor({ targets: { t: target({ trustOnFirstUse: true, knownHostsPath: known }) }, keepAliveIntervalMs: 0 });
    const pinned = createSshExecutor({ targets: { t: target({ fingerprint: sshd.hostKeyFingerprint }) } });
    try {
      expect((await tofu.run(req('t', 'some-id', 'x.sh'))).exitCode).toBe(0);
      expect(readFileSync(known, 'utf8')).toBe(`${sshd.knownHostsLine}\n`);
      const oldFingerprint = sshd.hostKeyFingerprint;
      await sshd.restart({ newHostKey: true });
      const newFingerprint = sshd.hostKeyFingerprint;
      expect(newFingerprint).not.toBe(oldFingerprint);
      for (const executor of [tofu, pinned]) {
        const error = await caught(executor.run(req('t', 'some-id', 'x.sh')));
        expect(FishError.hasCode(error, FishErrorCode.EXECUTOR_HOST_KEY)).toBe(true);
        expect((error as Error).message).toContain(newFingerprint);
        expect((error as Error).message).toContain('127.0.0.1');
        expect((error as FishError).details.fingerprint).toBe(newFingerprint);
      }
      // TOFU never overwrites a recorded key.
      expect(readFileSync(known, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
    } finally {
      await tofu.close();
      await pinned.close();
    }
  }, 30_000);
});
