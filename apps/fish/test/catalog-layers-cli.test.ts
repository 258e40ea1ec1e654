// Layered catalogs through the real CLI: the seed catalog (`bundled`) plus a folder of the
// user's own, where the user adds a pattern, replaces a seed pattern by id and disables one.
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = resolve(import.meta.dirname, '../dist/cli.js');
const SEED = resolve(import.meta.dirname, '../../../catalog');

const run = (args: string[], cwd?: string) =>
  promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, FISH_APPROVAL_SECRET: 'x'.repeat(40) }, timeout: 60_000, ...(cwd ? { cwd } : {}) }).then(
    (result) => ({ code: 0, ...result }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );

function match(args: string[], lines: object[]): Promise<Array<{ line: number; matches: Array<{ pattern: string }> }>> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, 'catalog', 'match', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('error', reject);
    child.once('close', () =>
      resolvePromise(
        stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line)),
      ),
    );
    child.stdin.end(lines.map((line) => JSON.stringify(line)).join('\n'));
  });
}

const OWN_PATTERN = `# My own: the backup job on penny.
id: restic-backup-locked
title: restic backup refuses to run, the repository is locked
target_host: $event_host
required_signals:
  - id: locked
    log:
      message: 'unable to create lock in backend: repository is already locked'
      service: 'restic|backup'
fix:
  script: restic-unlock.sh
verify:
  script: restic-unlock.sh
samples:
  match:
    - message: "Fatal: unable to create lock in backend: repository is already locked by PID 4242 on penny by root (UID 0, GID 0)"
      service: restic
`;

// Replaces the seed's pattern whole: only its own signal, no fix (diagnosis only).
const OVERRIDE = `id: docker-compose-stopped-post-reboot
title: My stacks are started by systemd units, not compose; tell me instead
target_host: $event_host
required_signals:
  - id: unit-failed
    log:
      message: 'compose-stack@\\S+\\.service: Failed with result'
diagnosis: Look at the systemd unit of the stack.
samples:
  match: ["compose-stack@homepage.service: Failed with result 'exit-code'."]
`;

const DISABLE = `# No Loki on my machines.
id: loki-empty-ring
disabled: true
reason: we ship logs elsewhere
`;

const config = (catalog: string) => `catalog: ${catalog}
dataDir: ./state
approval:
  publicUrl: https://fish.example.ts.net
  secret: \${FISH_APPROVAL_SECRET}
sources:
  - type: file
    options: { path: /var/log/app.jsonl }
notifier: { type: terminal }
executor:
  type: local
  options: { scriptsDir: ./scripts, sandboxDir: /tmp }
audit: { type: memory }
`;

let root: string;
let own: string;
let seedCount: number;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fish-layers-cli-'));
  own = join(root, 'my-patterns');
  await mkdir(join(own, 'patterns'), { recursive: true });
  await mkdir(join(own, 'scripts'));
  await writeFile(join(own, 'patterns', 'restic-backup-locked.yaml'), OWN_PATTERN);
  await writeFile(join(own, 'scripts', 'restic-unlock.sh'), '#!/bin/sh\nexec restic unlock\n');
  await chmod(join(own, 'scripts', 'restic-unlock.sh'), 0o755);
  const seed = await run(['catalog', 'validate', '--catalog', SEED]);
  seedCount = Number(/catalog OK: (\d+) patterns/.exec(seed.stdout)?.[1]);
  expect(seedCount).toBeGreaterThan(5);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('fish-sre catalog validate with layers', () => {
  it('`catalog: bundled` in fish.yaml is the seed catalog, wherever it is installed', async () => {
    await writeFile(join(root, 'bundled.yaml'), config('bundled'));
    const result = await run(['catalog', 'validate', '--config', join(root, 'bundled.yaml')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`catalog OK: ${seedCount} patterns in bundled\n`);
    expect(result.stdout).toMatch(/loki-empty-ring\s+escalates \(no automatic fix\)\s+from \S*catalog\/patterns\/loki-empty-ring\.yaml:2 \(bundled\)/);
  });

  it('the seed plus an own folder (relative to fish.yaml): every pattern says where it came from', async () => {
    await writeFile(join(root, 'fish.yaml'), config('[bundled, ./my-patterns]'));
    // Run from elsewhere: the own folder is found next to fish.yaml, not in the working directory.
    const result = await run(['catalog', 'validate', '--config', join(root, 'fish.yaml')], tmpdir());
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`catalog OK: ${seedCount + 1} patterns in bundled + `);
    expect(result.stdout).toMatch(/restic-backup-locked\s+fix restic-unlock\.sh\s+from \S*my-patterns\/patterns\/restic-backup-locked\.yaml:2 \(\S*my-patterns\)/);
    expect(result.stdout).toMatch(/docker-compose-stopped-post-reboot\s+fix \S+\s+from \S*catalog\/patterns\/docker-compose-stopped-post-reboot\.yaml:\d+ \(bundled\)\n/);
  });

  describe('an override replaces a seed pattern whole and a stub disables one', () => {
    const layers = () => ['--catalog', 'bundled', '--catalog', own];
    const EMPTY_RING = 'level=error msg="error sending batch, will retry" status=500 error="server returned HTTP status 500 Internal Server Error (500): empty ring"';
    beforeAll(async () => {
      await writeFile(join(own, 'patterns', 'docker-compose-stopped-post-reboot.yaml'), OVERRIDE);
      await writeFile(join(own, 'patterns', 'loki-empty-ring.yaml'), DISABLE);
    });
    afterAll(async () => {
      await rm(join(own, 'patterns', 'docker-compose-stopped-post-reboot.yaml'));
      await rm(join(own, 'patterns', 'loki-empty-ring.yaml'));
    });

    it('validate says which pattern overrides which, and which stub disabled what', async () => {
      const validate = await run(['catalog', 'validate', ...layers()]);
      expect(validate.code, validate.stderr).toBe(0);
      expect(validate.stdout).toContain(`catalog OK: ${seedCount} patterns in bundled + `);
      expect(validate.stdout).toContain('(1 overridden, 1 disabled)');
      expect(validate.stdout).toMatch(
        /docker-compose-stopped-post-reboot\s+escalates \(no automatic fix\)\s+from \S*my-patterns\/patterns\/docker-compose-stopped-post-reboot\.yaml:1 \(\S+\), overrides \S*catalog\/patterns\/docker-compose-stopped-post-reboot\.yaml:\d+ \(bundled\)/,
      );
      expect(validate.stdout).toMatch(
        /loki-empty-ring\s+disabled\s+by \S*my-patterns\/patterns\/loki-empty-ring\.yaml:2 \(\S+\), was \S*catalog\/patterns\/loki-empty-ring\.yaml:2 \(bundled\): we ship logs elsewhere/,
      );
    });

    it('test runs the samples of the combined catalog', async () => {
      const test = await run(['catalog', 'test', ...layers()]);
      expect(test.code, test.stdout).toBe(0);
      expect(test.stdout).toContain(`(${seedCount} patterns)`);
    });

    it("match: the seed's signal went with the seed's pattern, the override's own signal matches, the disabled pattern matches nothing", async () => {
      const seedLine = JSON.parse(await readFile(join(SEED, 'samples', 'demo.jsonl'), 'utf8').then((text) => text.split('\n').find((line) => line.includes('ENOTFOUND'))!)) as { message: string };
      const results = await match(layers(), [
        { message: seedLine.message, host: 'penny', service: 'uptime-kuma', level: 'warn' },
        { message: "compose-stack@homepage.service: Failed with result 'exit-code'.", host: 'penny', service: 'systemd', level: 'error' },
        { message: EMPTY_RING, host: 'penny', service: 'promtail', level: 'error' },
      ]);
      expect(results[0]!.matches.map((hit) => hit.pattern)).not.toContain('docker-compose-stopped-post-reboot');
      expect(results[1]!.matches.map((hit) => hit.pattern)).toContain('docker-compose-stopped-post-reboot');
      expect(results[2]!.matches).toEqual([]);
    });

    it('match on the seed alone still finds the pattern the own layer disabled', async () => {
      const seedOnly = await match(['--catalog', 'bundled'], [{ message: EMPTY_RING, host: 'penny', service: 'promtail', level: 'error' }]);
      expect(seedOnly[0]!.matches.map((hit) => hit.pattern)).toContain('loki-empty-ring');
    });
  });

  it('refuses a broken override and a duplicate id, then a stub with nothing to disable, each with its file and line (exit 1)', async () => {
    const broken = join(root, 'broken');
    await mkdir(join(broken, 'patterns'), { recursive: true });
    await writeFile(join(broken, 'patterns', 'docker-compose-stopped-post-reboot.yaml'), OVERRIDE.replace('target_host: $event_host\n', 'target_host: $event_host\ncooldown: 30\n'));
    await writeFile(join(broken, 'patterns', 'lokki-empty-ring.yaml'), DISABLE.replace('id: loki-empty-ring', 'id: lokki-empty-ring'));
    await writeFile(join(broken, 'patterns', 'mine.yaml'), OWN_PATTERN.replace('id: restic-backup-locked', 'id: mine').replace(/fix:[\s\S]*?samples:/, 'diagnosis: d\nsamples:'));
    await writeFile(join(broken, 'patterns', 'mine.yml'), OWN_PATTERN.replace('id: restic-backup-locked', 'id: mine').replace(/fix:[\s\S]*?samples:/, 'diagnosis: d\nsamples:'));
    const result = await run(['catalog', 'validate', '--catalog', 'bundled', '--catalog', broken]);
    expect(result.code).toBe(1);
    // Every problem inside the layers at once; the file paths are absolute outside the working directory.
    expect(result.stderr).toContain(`2 problem(s) in bundled + ${broken}:`);
    expect(result.stderr).toContain(`${broken}/patterns/docker-compose-stopped-post-reboot.yaml:4, pattern "docker-compose-stopped-post-reboot", field cooldown: 30 has no unit`);
    expect(result.stderr).toContain(`${broken}/patterns/mine.yml:2, pattern "mine", field id: duplicate pattern id, already defined in ${broken}/patterns/mine.yaml:2`);

    // Combining the layers comes once each layer is valid on its own.
    await rm(join(broken, 'patterns', 'mine.yml'));
    await writeFile(join(broken, 'patterns', 'docker-compose-stopped-post-reboot.yaml'), OVERRIDE);
    const dangling = await run(['catalog', 'validate', '--catalog', 'bundled', '--catalog', broken]);
    expect(dangling.code).toBe(1);
    expect(dangling.stderr).toContain(
      `${broken}/patterns/lokki-empty-ring.yaml:2, pattern "lokki-empty-ring", field disabled: nothing to disable: no lower layer (bundled) defines pattern "lokki-empty-ring"`,
    );
  });
});
