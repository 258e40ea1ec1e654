import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLokiServer, startNtfyServer, startTestSshd, type LokiServer, type NtfyTestServer, type TestSshd } from '@fish-sre/testkit';
import { loadConfig } from '../src/config.js';
import { renderConfig, type InitAnswers } from '../src/commands/init-files.js';

const CLI = resolve(import.meta.dirname, '../dist/cli.js');
const WRAPPER = resolve(import.meta.dirname, '../deploy/fish-wrapper');
const TENANT = 'homelab';

/** The environment of a new shell: nothing of fish's own set, so only --env-file provides the secrets. */
function cleanEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FISH_')));
}

function cli(args: string[], options: { input?: string; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = execFile(process.execPath, [CLI, ...args], { timeout: 25_000, env: cleanEnvironment(), cwd: options.cwd }, (error, stdout, stderr) => {
      resolvePromise({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

let loki: LokiServer;
let ntfy: NtfyTestServer;
let sshd: TestSshd;
let wrapperDir: string;

beforeAll(async () => {
  // The target: a real sshd whose client key is forced through the real fish-wrapper.
  wrapperDir = mkdtempSync(join(tmpdir(), 'fish-init-target-'));
  mkdirSync(join(wrapperDir, 'scripts'));
  writeFileSync(join(wrapperDir, 'allow-triples'), '# pattern script verb\n');
  chmodSync(wrapperDir, 0o755);
  [loki, ntfy, sshd] = await Promise.all([
    startLokiServer({ pingIntervalMs: 200 }),
    startNtfyServer({ version: '2.17.0' }),
    startTestSshd({
      forcedCommand: WRAPPER,
      env: {
        FISH_ALLOW_TRIPLES: join(wrapperDir, 'allow-triples'),
        FISH_SCRIPTS_DIR: join(wrapperDir, 'scripts'),
        FISH_DENY_LOG: join(wrapperDir, 'deny.log'),
        FISH_KILL_GRACE: '1',
        FISH_TIMEOUT: '30',
      },
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([loki?.close(), ntfy?.stop(), sshd?.stop()]);
  rmSync(wrapperDir, { recursive: true, force: true });
});

describe('fish-sre init --non-interactive, then doctor and run in that folder', () => {
  let directory = '';

  it('writes fish.yaml (no secret in it), .env (0600) and patterns/, and doctor passes on them', async () => {
    directory = await mkdtemp(join(tmpdir(), 'fish-init-'));
    await writeFile(join(directory, 'known_hosts'), `${sshd.knownHostsLine}\n`);
    const init = await cli([
      'init',
      '--non-interactive',
      '--dir',
      directory,
      '--loki-url',
      loki.url,
      '--loki-tenant',
      TENANT,
      '--ntfy-server',
      ntfy.url,
      '--ntfy-topic',
      'fish-init-test-topic',
      '--target',
      `penny=${sshd.username}@127.0.0.1:${sshd.port}`,
      '--ssh-key',
      sshd.privateKeyPath,
      '--approval-port',
      '0',
      '--metrics-port',
      '0',
    ]);
    // The seed catalog and the empty folder for the user's own patterns, layered.
    expect(init.stdout).toMatch(/✓ catalog: \d+ patterns/);
    expect(init.stdout).toMatch(/✓ source loki: /);
    expect(init.stdout).toMatch(/✓ notifier ntfy: /);
    expect(init.stdout).toMatch(/✓ executor ssh → penny: .*fish-wrapper is the forced command/);
    expect(init.stdout).toMatch(/All checks passed\./);
    expect(init.stdout).toMatch(/fish-sre run --config .*fish\.yaml --env-file .*\.env/);
    expect(init.code).toBe(0);

    const config = await readFile(join(directory, 'fish.yaml'), 'utf8');
    const environment = await readFile(join(directory, '.env'), 'utf8');
    const secret = /^FISH_APPROVAL_SECRET=(.+)$/m.exec(environment)?.[1] ?? '';
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(config).not.toContain(secret);
    expect(config).toContain('secret: "${FISH_APPROVAL_SECRET}"');
    expect(environment).toMatch(/^FISH_NTFY_TOPIC=fish-init-test-topic$/m);
    expect((await stat(join(directory, '.env'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(directory, 'patterns', 'README.md'), 'utf8')).toMatch(/fish-sre catalog validate/);
  }, 25_000);

  it('doctor without the secrets refuses the config, naming the variable', async () => {
    const withoutSecrets = await cli(['doctor', '--config', join(directory, 'fish.yaml')]);
    expect(`${withoutSecrets.stdout}${withoutSecrets.stderr}`).toMatch(/environment variable FISH_APPROVAL_SECRET is not set/);
    expect(withoutSecrets.code).not.toBe(0);
  }, 25_000);

  it('doctor with --env-file .env passes', async () => {
    const doctor = await cli(['doctor', '--config', join(directory, 'fish.yaml'), '--env-file', join(directory, '.env')]);
    expect(doctor.stdout).toMatch(/All checks passed\./);
    expect(doctor.code).toBe(0);
  }, 25_000);

  it('fish-sre run with that config turns two Caddy lines in Loki into one proposal on the ntfy topic, and stops on SIGTERM', async () => {
    // fish-sre run, from another folder: two Caddy lines on penny become one proposal on the topic.
    const run = spawn(process.execPath, [CLI, 'run', '--config', join(directory, 'fish.yaml'), '--env-file', join(directory, '.env')], {
      env: cleanEnvironment(),
      cwd: tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    run.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    run.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolveExit) => run.once('exit', (code) => resolveExit(code)));
    try {
      const until = async (what: string, condition: () => boolean) => {
        const deadline = Date.now() + 15_000;
        while (!condition()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; fish printed:\n${output}`);
          await new Promise((wait) => setTimeout(wait, 50));
        }
      };
      await until('the Loki tail', () => loki.activeTails() > 0);
      const now = BigInt(Date.now()) * 1_000_000n;
      const line = '{"level":"error","logger":"http.log.error","msg":"dial tcp: lookup homepage on 127.0.0.11:53: no such host","status":502}';
      loki.push(TENANT, [
        { ts: now, line, labels: { host: 'penny', container: 'caddy', detected_level: 'error' } },
        { ts: now + 1_000_000n, line, labels: { host: 'penny', container: 'caddy', detected_level: 'error' } },
      ]);
      await until('the proposal on ntfy', () => ntfy.messagesFor('fish-init-test-topic').some((message) => message.event === 'message'));
      const proposal = ntfy.messagesFor('fish-init-test-topic').find((message) => message.event === 'message');
      expect(proposal?.title).toMatch(/Compose stack still down after a reboot/);
      expect(proposal?.message).toMatch(/penny/);
    } finally {
      run.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 25_000);
});

describe('fish-sre init --non-interactive, refusals', () => {
  it('never overwrites without --force, and says which files are in the way', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fish-init-'));
    await writeFile(join(directory, 'fish.yaml'), '# mine\n');
    const refused = await cli(['init', '--non-interactive', '--dir', directory, '--prometheus-url', 'http://127.0.0.1:9', '--skip-doctor']);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(/fish\.yaml already exists; nothing was written \(--force overwrites\)/);
    expect(await readFile(join(directory, 'fish.yaml'), 'utf8')).toBe('# mine\n');
    await expect(stat(join(directory, '.env'))).rejects.toThrow(/ENOENT/);

    const forced = await cli(['init', '--non-interactive', '--dir', directory, '--prometheus-url', 'http://127.0.0.1:9', '--skip-doctor', '--force']);
    expect(forced.code).toBe(0);
    expect(await readFile(join(directory, 'fish.yaml'), 'utf8')).toMatch(/type: prometheus/);
  }, 25_000);

  it('refuses a bad flag value with the flag and what was expected, writing nothing', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fish-init-'));
    const result = await cli(['init', '--non-interactive', '--dir', directory, '--loki-url', 'http://127.0.0.1:3100', '--target', 'nas=fish@nas.lan', '--skip-doctor']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/--target "nas=fish@nas\.lan": "nas\.lan" is not an IP address/);
    await expect(stat(join(directory, 'fish.yaml'))).rejects.toThrow(/ENOENT/);
    const noSource = await cli(['init', '--non-interactive', '--dir', directory, '--skip-doctor']);
    expect(noSource.stdout).toMatch(/at least one source: give --loki-url or --prometheus-url/);
    expect(noSource.code).toBe(2);
  }, 25_000);
});

describe('fish-sre init (interactive, answers on stdin)', () => {
  it('asks each question, asks again after a wrong answer, and runs doctor on what it wrote', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fish-init-'));
    const answers = [
      loki.url, // Loki URL
      '', // LogQL query: the default
      TENANT, // tenant
      '', // Prometheus: none
      '', // notifier: ntfy (default)
      ntfy.url, // server
      'fish-asked-topic', // topic
      'penny', // first target
      'penny.lan', // not an IP address: asked again
      '127.0.0.1',
      String(sshd.port),
      sshd.username,
      sshd.privateKeyPath,
      '', // no second target
      '', // known_hosts: default (in the folder)
      '', // data folder: default
      '0', // approval port
      '', // public URL: default
    ];
    await writeFile(join(directory, 'known_hosts'), `${sshd.knownHostsLine}\n`);
    const result = await cli(['init', '--dir', directory, '--metrics-port', '0'], { input: `${answers.join('\n')}\n` });
    expect(result.stdout).toMatch(/Loki URL \(empty: no Loki\): /);
    expect(result.stdout).toMatch(/"penny\.lan" is not an IP address/);
    expect(result.stdout).toMatch(/✓ executor ssh → penny: /);
    expect(result.stdout).toMatch(/All checks passed\./);
    expect(result.code).toBe(0);
    const config = await loadConfig(join(directory, 'fish.yaml'), { FISH_APPROVAL_SECRET: 'x'.repeat(40), FISH_NTFY_TOPIC: 'fish-asked-topic' });
    expect(config.sources).toEqual([{ type: 'loki', options: { url: loki.url, query: '{detected_level=~"error|warn|critical|fatal"}', tenant: TENANT } }]);
    expect(config.executor.options).toMatchObject({ targets: { penny: { host: '127.0.0.1', port: sshd.port, username: sshd.username, privateKeyPath: sshd.privateKeyPath } } });
    expect(config.dataDir).toBe(join(directory, 'data'));
    expect(config.catalog).toEqual(['bundled', join(directory, 'patterns')]);
  }, 30_000);

  it('stops with the question it was asking when the input ends', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fish-init-'));
    const result = await cli(['init', '--dir', directory], { input: 'http://127.0.0.1:3100\n' });
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/the input ended before "LogQL query of the lines to watch" was answered; nothing was written/);
    await expect(stat(join(directory, 'fish.yaml'))).rejects.toThrow(/ENOENT/);
  }, 25_000);
});

describe('the fish.yaml init writes', () => {
  const base: InitAnswers = {
    notifier: { type: 'ntfy', server: 'https://ntfy.sh', topic: 't' },
    targets: [],
    knownHostsPath: '/etc/fish-sre/known_hosts',
    dataDir: '/var/lib/fish',
    publicUrl: 'https://fish.example.net',
    approvalPort: 8080,
    metricsPort: 9464,
  };
  const variants: Array<[string, InitAnswers]> = [
    ['Loki and ntfy, no target', { ...base, loki: { url: 'http://loki.lan:3100', query: '{job="a \\"quoted\\" value"}' } }],
    [
      'Prometheus and Telegram, two targets',
      {
        ...base,
        prometheus: { url: 'http://10.0.0.5:9090' },
        notifier: { type: 'telegram', chatId: -100123 },
        targets: [
          { name: 'penny', host: '192.168.1.10', port: 2806, username: 'fish', privateKeyPath: '/etc/fish-sre/id_ed25519' },
          { name: 'nas', host: 'fd00::2', port: 22, username: 'fish', privateKeyPath: '/etc/fish-sre/id_ed25519' },
        ],
      },
    ],
  ];
  it.each(variants)('is a valid config (%s), with every secret a ${NAME} reference', async (_name, answers) => {
    const directory = await mkdtemp(join(tmpdir(), 'fish-init-'));
    await writeFile(join(directory, 'fish.yaml'), renderConfig(answers, new Date()));
    const env = { FISH_APPROVAL_SECRET: 's'.repeat(40), FISH_NTFY_TOPIC: 'fish-topic-from-env-7c1', FISH_TELEGRAM_BOT_TOKEN: `123456:${'A'.repeat(30)}` };
    const config = await loadConfig(join(directory, 'fish.yaml'), env);
    expect(config.sources.map((source) => source.type)).toEqual([...(answers.loki ? ['loki'] : []), ...(answers.prometheus ? ['prometheus'] : [])]);
    if (answers.loki) expect(config.sources[0]?.options).toMatchObject({ query: answers.loki.query });
    expect(Object.keys((config.executor.options as { targets: object }).targets)).toEqual(answers.targets.map((target) => target.name));
    const text = await readFile(join(directory, 'fish.yaml'), 'utf8');
    for (const value of Object.values(env)) expect(text).not.toContain(value);
  });
});
