// Approval -> remote command start latency: fish's pooled ssh2 connection vs spawning the OpenSSH
// `ssh` client per action (the seed's way), against a loopback OpenSSH sshd whose key is forced
// through the real fish-wrapper. Also the executor's own overhead (run() called -> channel request
// written). Prints one JSON line to stdout, human text to stderr.
//
// Needs the built dist of @fish-sre/exec-ssh and @fish-sre/testkit, /usr/sbin/sshd and ssh.
// ITERATIONS=n overrides the iteration count (default 60).
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startTestSshd } from '@fish-sre/testkit';
import { createSshPool, createSshExecutor } from '../dist/index.js';

const ITERATIONS = Number(process.env.ITERATIONS ?? 60);
const wrapper = fileURLToPath(new URL('../../../apps/fish/deploy/fish-wrapper', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fish-bench-'));
mkdirSync(join(dir, 'scripts'));
// The script's first act is to print the wall-clock time it started (ns).
writeFileSync(join(dir, 'scripts', 'start.sh'), '#!/bin/sh\ndate +%s%N\n');
chmodSync(join(dir, 'scripts', 'start.sh'), 0o755);
writeFileSync(join(dir, 'allow-triples'), 'bench start.sh run\nbench start.sh verify\n');

const sshd = await startTestSshd({
  forcedCommand: wrapper,
  env: { FISH_ALLOW_TRIPLES: join(dir, 'allow-triples'), FISH_SCRIPTS_DIR: join(dir, 'scripts') },
});
writeFileSync(join(dir, 'known_hosts'), `${sshd.knownHostsLine}\n`);

const nowNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
const startLatencyMs = (calledNs, stdout) => Number(BigInt(stdout.trim().split('\n')[0]) - calledNs) / 1e6;

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { n: sorted.length, p50: +at(0.5).toFixed(3), p99: +at(0.99).toFixed(3), min: +sorted[0].toFixed(3), max: +sorted.at(-1).toFixed(3) };
}

// 1. Pooled: the executor as fish uses it, warm connection.
let sentAt = 0;
const target = { host: '127.0.0.1', port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, hostKey: { knownHostsPath: join(dir, 'known_hosts') } };
const pool = createSshPool({ targets: { bench: target }, onExecSent: () => (sentAt = performance.now()) });
const executor = createSshExecutor({ pool });
const request = { host: 'bench', verb: 'run', patternId: 'bench', script: 'start.sh', timeoutMs: 30_000 };
await executor.run(request); // warm-up: opens the pooled connection
const pooled = [];
const overhead = [];
for (let i = 0; i < ITERATIONS; i++) {
  const calledNs = nowNs();
  const called = performance.now();
  const result = await executor.run(request);
  if (result.exitCode !== 0) throw new Error(`pooled run failed: ${result.exitCode} ${result.stderr}`);
  overhead.push(sentAt - called);
  pooled.push(startLatencyMs(calledNs, result.stdout));
}

// 2. OpenSSH client per action (new process, TCP connection, key exchange, auth every time).
const sshArgs = [
  '-i',
  sshd.privateKeyPath,
  '-p',
  String(sshd.port),
  '-o',
  `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
  '-o',
  'StrictHostKeyChecking=yes',
  '-o',
  'BatchMode=yes',
  '-o',
  'LogLevel=ERROR',
  `${sshd.username}@127.0.0.1`,
  'run bench start.sh',
];
const perAction = [];
for (let i = 0; i < ITERATIONS; i++) {
  const calledNs = nowNs();
  const stdout = await new Promise((resolve, reject) => {
    // stdin stays open (a pipe): end-of-file on stdin means "cancel" to the wrapper.
    const child = spawn('ssh', sshArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`ssh exited ${code}: ${err}`))));
  });
  perAction.push(startLatencyMs(calledNs, stdout));
}

await executor.close();
await pool.close();
await sshd.stop();
rmSync(dir, { recursive: true, force: true });

const figures = {
  bench: 'exec-ssh/latency',
  iterations: ITERATIONS,
  pooledStartMs: stats(pooled),
  opensshPerActionStartMs: stats(perAction),
  speedupP50: +(stats(perAction).p50 / stats(pooled).p50).toFixed(2),
  ownOverheadMs: stats(overhead),
};
process.stdout.write(`${JSON.stringify(figures)}\n`);
process.stderr.write(
  [
    `approval -> remote script start, ${ITERATIONS} iterations each (loopback sshd + fish-wrapper):`,
    `  pooled ssh2 connection   p50 ${figures.pooledStartMs.p50} ms  p99 ${figures.pooledStartMs.p99} ms`,
    `  ssh client per action    p50 ${figures.opensshPerActionStartMs.p50} ms  p99 ${figures.opensshPerActionStartMs.p99} ms`,
    `  speed-up (p50)           x${figures.speedupP50}`,
    `executor overhead, run() called -> channel request written: p50 ${figures.ownOverheadMs.p50} ms  p99 ${figures.ownOverheadMs.p99} ms`,
    '',
  ].join('\n'),
);
