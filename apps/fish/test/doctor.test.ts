import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const CLI = resolve(import.meta.dirname, '../dist/cli.js');
const CATALOG = resolve(import.meta.dirname, '../../../catalog');

describe('fish-sre doctor', () => {
  it('says, for each configured part, what is wrong in plain words', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fish-doctor-'));
    // A loopback port with nothing listening (port 9 is on fetch's list of refused ports).
    const closedPort = await new Promise<number>((resolvePort) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolvePort(port));
      });
    });
    const config = join(directory, 'fish.yaml');
    await writeFile(
      config,
      `catalog: ${CATALOG}
dataDir: ${join(directory, 'state')}
approval:
  publicUrl: https://fish.example.ts.net
  secret: "${'s'.repeat(40)}"
sources:
  - type: file
    options: { path: ${join(directory, 'missing.jsonl')} }
  - type: loki
    options: { url: "http://127.0.0.1:${closedPort}", query: '{job="x"}' }
notifier: { type: terminal }
executor:
  type: ssh
  options:
    targets:
      penny: { host: 127.0.0.1, port: 9, username: fish, privateKey: "not a key", hostKey: { fingerprint: "SHA256:${'A'.repeat(43)}" } }
audit: { type: sqlite, options: { path: audit.sqlite } }
`,
    );
    const result = await promisify(execFile)(process.execPath, [CLI, 'doctor', '--config', config], { timeout: 60_000 }).then(
      (ok) => ({ code: 0, stdout: ok.stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/✓ config: /);
    expect(result.stdout).toMatch(/✓ catalog: \d+ patterns/);
    expect(result.stdout).toMatch(/✗ source file: cannot read .*missing\.jsonl/);
    expect(result.stdout).toMatch(/✗ source loki: cannot connect: connection refused/);
    expect(result.stdout).toMatch(/✗ executor ssh → penny: /);
    expect(result.stdout).toMatch(/\d+ check\(s\) failed\./);
  }, 90_000);

  it('prints no secret the config took from the environment (a key in a URL path, an ntfy topic, a token)', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fish-doctor-'));
    const closedPort = await new Promise<number>((resolvePort) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolvePort(port));
      });
    });
    const topic = 'fish-doctor-7f3c9a1e5d2b';
    const token = 'tk_doctorsecret0123456789abcdef';
    // An ntfy behind a reverse proxy that keeps its key in the path: a failed check names the URL.
    const pathKey = 'k3y-9f8e7d6c5b4a';
    const config = join(directory, 'fish.yaml');
    await writeFile(
      config,
      `catalog: ${CATALOG}
dataDir: ${join(directory, 'state')}
approval:
  publicUrl: https://fish.example.ts.net
  secret: "${'s'.repeat(40)}"
sources:
  - type: file
    options: { path: ${join(directory, 'events.jsonl')} }
notifier:
  type: ntfy
  options: { server: "http://127.0.0.1:${closedPort}/\${FISH_NTFY_PATH_KEY}", topic: "\${FISH_NTFY_TOPIC}", token: "\${FISH_NTFY_TOKEN}", retries: 0 }
executor: { type: local, options: { scriptsDir: ${CATALOG}/scripts, sandboxDir: ${directory} } }
audit: { type: memory }
`,
    );
    await writeFile(join(directory, 'events.jsonl'), '');
    const env = { ...process.env, FISH_NTFY_TOPIC: topic, FISH_NTFY_TOKEN: token, FISH_NTFY_PATH_KEY: pathKey };
    const result = await promisify(execFile)(process.execPath, [CLI, 'doctor', '--config', config], { timeout: 60_000, env }).then(
      (ok) => ({ code: 0, stdout: ok.stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    expect(result.code).toBe(1);
    // The path key is redacted by doctor (it came from the environment), the topic by ntfy itself.
    expect(result.stdout).toMatch(new RegExp(`✗ notifier ntfy: .*health check to http://127\\.0\\.0\\.1:${closedPort}/\\[REDACTED\\]/<topic> failed`));
    expect(result.stdout).not.toContain(pathKey);
    expect(result.stdout).not.toContain(topic);
    expect(result.stdout).not.toContain(token);
  }, 90_000);
});
