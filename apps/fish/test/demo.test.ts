import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = resolve(import.meta.dirname, '../dist/cli.js');

interface Run {
  code: number | null;
  output: string;
}

/** Runs the real fish-sre binary; `onLine` may react to its output (e.g. approve from a second process). */
function runCli(args: string[], options: { onLine?: (line: string) => void; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let output = '';
    let pending = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 45_000);
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) options.onLine?.(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

describe('fish-sre demo (the embedded default, end to end)', () => {
  it('detects, proposes, is approved through the HTTP endpoint, fixes, verifies and audits', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'fish-demo-'));
    const run = await runCli(['demo', '--yes', '--port', '0', '--data-dir', dataDir]);
    expect(run.output).toContain('incident');
    expect(run.output).toMatch(/PROPOSAL prop_[a-f0-9]{20}: Compose stack still down after a reboot/);
    expect(run.output).toContain('approval endpoint answered 200');
    expect(run.output).toMatch(/execution exe_[a-f0-9]{20}: verifying/);
    expect(run.output).toContain('Demo finished: execution succeeded.');
    expect(run.code).toBe(0);
    // The real catalog script ran in the sandbox and called (the stand-in) docker compose up.
    const dockerLog = await readFile(join(dataDir, 'sandbox', 'state', 'docker.log'), 'utf8');
    expect(dockerLog).toMatch(/docker compose -f .*homepage\/compose\.yaml up -d --no-recreate/);
    // The audit file survives the process and its hash chain verifies.
    const verify = await runCli(['audit', 'verify', '--demo', '--data-dir', dataDir]);
    expect(verify.output).toMatch(/audit chain OK: \d+ rows/);
    expect(verify.code).toBe(0);
    const list = await runCli(['audit', 'list', '--demo', '--data-dir', dataDir]);
    expect(list.output).toMatch(/docker-compose-stopped-post-reboot on penny: approved, execution succeeded/);
  }, 90_000);

  it('waits for a human, who can approve from another terminal with fish-sre approve', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'fish-demo-'));
    const approvals: Promise<Run>[] = [];
    const run = await runCli(['demo', '--port', '0', '--data-dir', dataDir], {
      onLine: (line) => {
        const match = /npx fish-sre approve (prop_[a-f0-9]{20}) --demo/.exec(line);
        if (match) approvals.push(runCli(['approve', match[1]!, '--demo', '--data-dir', dataDir]));
      },
    });
    expect(approvals).toHaveLength(1);
    const approval = await approvals[0]!;
    expect(approval.output).toMatch(/^200: approved: the fix runs on penny now/m);
    // The User-Agent is not an identity: a tap, a curl and `fish-sre approve` are all the link holder.
    expect(run.output).toMatch(/decision: prop_[a-f0-9]{20} approved by approval-link/);
    expect(run.output).toContain('Demo finished: execution succeeded.');
    expect(run.code).toBe(0);
  }, 90_000);
});
