import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Plausible mistakes in a fish.yaml, each run through the real CLI (`fish-sre run`, and
 * `fish-sre doctor` for one of each kind): the message names the file, the line of the offending key itself, the
 * field path and what is expected, and the exit status is 78 (EX_CONFIG) for every one.
 */
const CLI = resolve(import.meta.dirname, '../dist/cli.js');
const CATALOG = resolve(import.meta.dirname, '../../../catalog');
const SECRET = 's'.repeat(40);

/** A valid config; each case below changes one thing. Line numbers are noted for the cases. */
const VALID = `catalog: ${CATALOG}
dataDir: ./state
approval:
  publicUrl: https://fish.example.net
  secret: \${FISH_SECRET}
  listen:
    port: 0
sources:
  - type: file
    name: app
    options:
      path: ./app.jsonl
      startAt: end
notifier:
  type: ntfy
  options:
    server: http://127.0.0.1:9
    topic: fish-alerts
    token: \${NTFY_TOKEN:-tk_placeholder}
executor:
  type: local
  options:
    scriptsDir: ${join(CATALOG, 'scripts')}
    sandboxDir: .
audit:
  type: memory
metrics: null
`;

interface Mistake {
  what: string;
  edit: (config: string) => string;
  env?: Record<string, string>;
  line: number;
  path: string;
  expected: RegExp;
  /** Also through `fish-sre doctor` (one case of each way a mistake is found; `run` takes them all). */
  doctor?: boolean;
}

const replace = (from: string, to: string) => (config: string) => {
  if (!config.includes(from)) throw new Error(`the valid config has no "${from}"`);
  return config.replace(from, to);
};

const MISTAKES: Mistake[] = [
  { what: 'a typo in a top-level key', doctor: true, edit: (config) => `${config}dryrun: true\n`, line: 28, path: 'dryrun', expected: /unknown option "dryrun" \(did you mean "dryRun"\?\)/ },
  { what: 'a wrong type', edit: (config) => `${config}autoExec: "yes"\n`, line: 28, path: 'autoExec', expected: /expected boolean/ },
  {
    what: 'a duration without its unit',
    edit: replace('  listen:\n', '  proposalTtl: 3600\n  listen:\n'),
    line: 6,
    path: 'approval.proposalTtl',
    expected: /3600 has no unit: write a duration with its unit, like "3600s"/,
  },
  {
    what: 'an unknown plugin type',
    doctor: true,
    edit: replace('  type: ntfy\n', '  type: ntfyy\n'),
    line: 15,
    path: 'notifier.type',
    expected: /unknown notifier type "ntfyy" \(did you mean "ntfy"\?\) \(available: [^)]*ntfy/,
  },
  { what: 'a misspelt plugin option', doctor: true, edit: replace('    token:', '    tokn:'), line: 19, path: 'notifier.options.tokn', expected: /unknown option "tokn" \(did you mean "token"\?\)/ },
  { what: 'a plugin option of the wrong value', edit: replace('startAt: end', 'startAt: middle'), line: 13, path: 'sources[0].options.startAt', expected: /expected one of "beginning"\|"end"/ },
  {
    what: 'a missing environment variable',
    doctor: true,
    edit: replace('${NTFY_TOKEN:-tk_placeholder}', '${NTFY_TOKEN}'),
    line: 19,
    path: 'notifier.options.token',
    expected: /environment variable NTFY_TOKEN is not set/,
  },
  { what: 'an unknown nested key', edit: replace('    port: 0\n', '    prot: 0\n'), line: 7, path: 'approval.listen.prot', expected: /unknown option "prot" \(did you mean "port"\?\)/ },
  { what: 'a URL without its scheme', edit: replace('https://fish.example.net', 'fish.example.net'), line: 4, path: 'approval.publicUrl', expected: /expected a URL/ },
  { what: 'a port out of range', edit: replace('    port: 0\n', '    port: 80800\n'), line: 7, path: 'approval.listen.port', expected: /<=65535/ },
  {
    what: 'a map where a list is expected',
    edit: replace('sources:\n  - type: file\n    name: app\n    options:\n      path: ./app.jsonl\n      startAt: end\n', 'sources:\n  type: file\n'),
    line: 8,
    path: 'sources',
    expected: /expected array/,
  },
  {
    what: 'two sources with one name',
    edit: replace('notifier:\n', '  - type: file\n    name: app\n    options: { path: ./other.jsonl }\nnotifier:\n'),
    line: 15,
    path: 'sources[1].name',
    expected: /duplicate source name "app" \(also sources\[0\]\)/,
  },
  { what: 'a key indented too far', doctor: true, edit: replace('  secret: ${FISH_SECRET}\n', '  secret: ${FISH_SECRET}\n     ttl: 1h\n'), line: 6, path: '', expected: /YAML syntax: .*indentation/ },
  { what: 'a list item without its dash', edit: replace('    name: app\n', '    name: app\n   - type: file\n'), line: 11, path: '', expected: /YAML syntax: .*indentation/ },
  { what: 'a key written twice', edit: (config) => `${config}metrics: null\n`, line: 28, path: '', expected: /YAML syntax: Map keys must be unique/ },
  { what: 'a catalog folder that does not exist', doctor: true, edit: replace(`catalog: ${CATALOG}`, 'catalog: ./catalogue'), line: 1, path: 'catalog', expected: /folder .*catalogue does not exist/ },
  { what: 'a short approval secret', edit: (config) => config, env: { FISH_SECRET: 'short' }, line: 5, path: 'approval.secret', expected: /at least 32 characters/ },
  { what: 'a log level that does not exist', edit: (config) => `${config}log:\n  level: verbose\n`, line: 29, path: 'log.level', expected: /expected one of "debug"\|"info"\|"warn"\|"error"/ },
  {
    what: 'a plugin package that is not installed',
    doctor: true,
    edit: replace('  type: ntfy\n', '  package: fish-notify-not-installed\n  type: webhook\n'),
    line: 15,
    path: 'notifier.package',
    expected: /plugin package "fish-notify-not-installed" is not installed: looked in the config file's folder/,
  },
];

function fishCli(args: string[], cwd: string, env: Record<string, string>): Promise<{ status: number; output: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 20_000 }, (error, stdout, stderr) => {
      done({ status: error ? (typeof error.code === 'number' ? error.code : -1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

async function project(config: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'fish-config-errors-'));
  await writeFile(join(directory, 'fish.yaml'), config);
  return directory;
}

describe('config mistakes through the real CLI', () => {
  it('starts from a config doctor accepts', async () => {
    const directory = await project(VALID);
    const { output } = await fishCli(['doctor', '--config', 'fish.yaml'], directory, { FISH_SECRET: SECRET });
    expect(output).toMatch(/✓ config: /);
    expect(output).toMatch(/✓ catalog: \d+ patterns/);
    expect(output).not.toMatch(/✗ (config|plugins)/);
  });

  it('doctor fails a local executor whose sandbox folder does not exist', async () => {
    const directory = await project(VALID.replace('    sandboxDir: .\n', '    sandboxDir: /nonexistent/fish-sandbox\n'));
    await writeFile(join(directory, 'app.jsonl'), '');
    const { status, output } = await fishCli(['doctor', '--config', 'fish.yaml'], directory, { FISH_SECRET: SECRET });
    expect(output).toMatch(/✗ executor local → localhost: sandboxDir \/nonexistent\/fish-sandbox is not an existing folder/);
    expect(status).toBe(1);
  });

  it.each(MISTAKES)('$what: file, line $line, path and expectation, exit 78', async (mistake) => {
    const directory = await project(mistake.edit(VALID));
    const env = { FISH_SECRET: SECRET, ...mistake.env };
    // The config file is named relative to a working directory other than its own folder.
    const cwd = await mkdtemp(join(tmpdir(), 'fish-cwd-'));
    await mkdir(cwd, { recursive: true });
    const config = join(directory, 'fish.yaml');
    for (const command of mistake.doctor ? ['run', 'doctor'] : ['run']) {
      const { status, output } = await fishCli([command, '--config', config], cwd, env);
      expect(status, `${command}: ${output}`).toBe(78);
      // file:line: path: ...expectation, on one line.
      const located = output.split('\n').find((text) => text.includes(`${config}:${mistake.line}: `));
      expect(located, `${command} names ${config}:${mistake.line}:\n${output}`).toBeDefined();
      if (mistake.path) expect(located).toContain(`:${mistake.line}: ${mistake.path}: `);
      expect(located).toMatch(mistake.expected);
    }
  });
});
