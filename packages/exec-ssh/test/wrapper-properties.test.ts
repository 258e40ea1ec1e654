import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrapperHost, WRAPPER_PATH, type WrapperHost } from './helpers.js';

// Property tests of the real fish-wrapper: 10,000 generated commands (fixed seed) run through the
// wrapper itself, and a fixed-seed sample of them through a real OpenSSH sshd with the wrapper as
// forced command. A small reference model says which commands are allowed: the grammar, and an
// exact "<pattern> <script> <verb>" triple in the allow file, and an optional fourth field that must
// be the installed script's sha256. Every allowed command must run its
// script exactly once with that verb and pattern; every other one must be denied (126) and run nothing.

const SEED = 20_261_201;
const CASES = 10_000;
const SSHD_CASES = 400;
const DENIED = 126;

const TRIPLES = [
  'alpha-pat fix-a.sh run',
  'alpha-pat check-a.sh verify',
  'beta-pat fix-b.sh run',
  'beta-pat check-b.sh verify',
  'beta-pat fix-b.sh rollback',
  'gamma-pat shared.sh run',
  'delta-pat shared.sh verify',
];
const PATTERNS = ['alpha-pat', 'beta-pat', 'gamma-pat', 'delta-pat', 'evil-pat'];
/** evil.sh is installed but in no triple. */
const SCRIPTS = ['fix-a.sh', 'check-a.sh', 'fix-b.sh', 'check-b.sh', 'shared.sh', 'evil.sh'];
const VERBS = ['run', 'verify', 'rollback'];

/**
 * The reference model: what the wrapper documents it allows. `digest`: the sha256 of the installed
 * scripts (all alike here); an optional fourth field must be exactly it.
 */
function allowed(command: string, digest: string): boolean {
  if (!/^[a-z0-9._ -]+$/.test(command) || command.length > 205) return false;
  const fields = command.split(' ');
  if (fields.length === 4) {
    if (fields.pop() !== digest) return false;
  }
  if (fields.length !== 3 || fields.join(' ').length > 140) return false;
  const [verb, pattern, script] = fields as [string, string, string];
  if (!VERBS.includes(verb)) return false;
  if (!/^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$/.test(pattern)) return false;
  if (!/^[a-z0-9][a-z0-9_-]{0,62}\.sh$/.test(script) || script.length > 66) return false;
  return TRIPLES.includes(`${pattern} ${script} ${verb}`);
}

const nasty = fc.constantFrom(
  ' ',
  '  ',
  '\t',
  '\n',
  '\r',
  ';',
  '&',
  '|',
  '$',
  '`',
  '(',
  ')',
  "'",
  '"',
  '\\',
  '/',
  '*',
  '?',
  '[',
  ']',
  '{',
  '}',
  '~',
  '#',
  '=',
  ',',
  ':',
  '.',
  '_',
  '-',
  'A',
  'Z',
  '\u00a0',
  '\u200b',
  'о',
  'ѕ',
  '\u202e',
  '\u0301',
  '\x1b',
  '\x7f',
);
const verb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...VERBS) }, fc.constantFrom('RUN', 'exec', 'runn', 'verif', ''), fc.stringMatching(/^[a-z]{1,9}$/));
const pattern = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PATTERNS) }, fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$/), fc.stringMatching(/^[a-z0-9-]{0,70}$/));
const script = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SCRIPTS) }, fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,62}\.sh$/), fc.stringMatching(/^[a-z0-9._-]{0,70}$/));
/** An allowed triple as the command that runs it. */
const tripleCommand = fc
  .constantFrom(...TRIPLES)
  .map((t) => t.split(' '))
  .map(([p, s, v]) => `${v} ${p} ${s}`);
/** Three fields joined by single spaces: mostly recombinations of real parts (the triple property). */
const wellFormed = fc.tuple(verb, pattern, script).map(([v, p, s]) => `${v} ${p} ${s}`);
/** A well-formed command with nasty characters inserted, removed or appended. */
const mutated = fc.tuple(wellFormed, fc.array(fc.tuple(fc.nat(), nasty, fc.boolean()), { minLength: 1, maxLength: 4 })).map(([command, edits]) => {
  let text = command;
  for (const [at, piece, remove] of edits) {
    const index = at % (text.length + 1);
    text = remove ? text.slice(0, index) + text.slice(index + 1) : text.slice(0, index) + piece + text.slice(index);
  }
  return text;
});
/** The digest field: mostly the installed scripts' own (`@good`, filled in after sampling), else near it. */
const digest = fc.oneof({ weight: 3, arbitrary: fc.constant('@good') }, fc.constant('0'.repeat(64)), fc.stringMatching(/^[0-9a-f]{63,65}$/), fc.stringMatching(/^[0-9a-fA-F]{64}$/));
/** A command with a fourth field: the pinned digest of the approved proposal's script. */
const withDigest = fc.tuple(fc.oneof(wellFormed, tripleCommand), digest).map(([text, sha]) => `${text} ${sha}`);
/** NUL cannot reach the wrapper (a C string; sshd refuses it), so no generated command holds one. */
const anyText = fc.string({ unit: 'binary', maxLength: 160 }).map((text) => text.replaceAll('\0', ''));
const command = fc.oneof(
  { weight: 3, arbitrary: tripleCommand },
  { weight: 3, arbitrary: withDigest },
  { weight: 6, arbitrary: wellFormed },
  { weight: 6, arbitrary: mutated },
  { weight: 2, arbitrary: anyText },
);

const SCRIPT_BODY = (runs: string) => `#!/bin/sh\nprintf '%s %s %s\\n' "$1" "$FISH_PATTERN_ID" "\${0##*/}" >>'${runs}'\n`;

let dir: string;
let runs: string;
let cases: string[];
let good: string;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** The first three fields: what an allowed command's script records when it runs. */
const ran = (text: string) => text.split(' ').slice(0, 3).join(' ');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fish-wrapper-props-'));
  runs = join(dir, 'runs.log');
  mkdirSync(join(dir, 'scripts'));
  for (const name of SCRIPTS) {
    writeFileSync(join(dir, 'scripts', name), SCRIPT_BODY(runs));
    chmodSync(join(dir, 'scripts', name), 0o755);
  }
  writeFileSync(join(dir, 'allow-triples'), `# pattern script verb\n${TRIPLES.join('\n')}\n`);
  good = sha256(SCRIPT_BODY(runs));
  cases = fc.sample(command, { seed: SEED, numRuns: CASES }).map((text) => text.replaceAll('@good', good));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs every command through the real wrapper from small driver shells, one per core share (a node
 * spawn per case would take minutes on a loaded machine). A driver's stdin is a pipe kept open,
 * like an SSH channel, so the wrapper's end-of-file cancel never fires. Resolves one exit status
 * per command, in order.
 */
async function runDriver(commands: string[], parts = 2): Promise<number[]> {
  const driver = join(dir, 'driver.sh');
  writeFileSync(
    driver,
    // bash only for reading NUL-separated input without a fork per case; the wrapper runs under its own /bin/sh.
    '#!/bin/bash\nwhile IFS= read -r -u 3 -d \'\' cmd; do\n  SSH_ORIGINAL_COMMAND=$cmd "$2" >/dev/null 2>&1 3<&-\n  echo $?\ndone 3<"$1"\n',
  );
  chmodSync(driver, 0o755);
  const size = Math.ceil(commands.length / parts);
  const chunks = Array.from({ length: parts }, (_, part) => commands.slice(part * size, (part + 1) * size));
  const results = await Promise.all(
    chunks.map((chunk, part) => {
      const inputs = join(dir, `inputs-${part}`);
      writeFileSync(inputs, chunk.map((text) => `${text}\0`).join(''));
      return new Promise<number[]>((resolve, reject) => {
        const child = spawn(driver, [inputs, WRAPPER_PATH], {
          stdio: ['pipe', 'pipe', 'inherit'],
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FISH_ALLOW_TRIPLES: join(dir, 'allow-triples'), FISH_SCRIPTS_DIR: join(dir, 'scripts'), FISH_KILL_GRACE: '1' },
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('error', reject);
        child.on('close', () => {
          child.stdin.destroy();
          resolve(out.split('\n').filter(Boolean).map(Number));
        });
      });
    }),
  );
  return results.flat();
}

describe('fish-wrapper properties (fast-check, fixed seed)', () => {
  it(`${CASES} generated commands: allowed exactly when the model allows, each allowed one runs once, the rest are 126 and run nothing`, async () => {
    const expected = cases.map((text) => allowed(text, good));
    // Commands with the digest field reach both sides too.
    expect(cases.filter((text, index) => expected[index] && text.split(' ').length === 4).length).toBeGreaterThan(CASES / 100);
    expect(cases.filter((text, index) => !expected[index] && /^\S+ \S+ \S+ [0-9a-f]{64}$/.test(text) && allowed(ran(text), good)).length).toBeGreaterThan(CASES / 100);
    // The generator reaches both sides and the recombined triples (same parts, wrong combination).
    const allowedCount = expected.filter(Boolean).length;
    expect(allowedCount).toBeGreaterThan(CASES / 20);
    const recombined = cases.filter((text, index) => {
      const [v, p, s] = text.split(' ');
      return !expected[index] && VERBS.includes(v ?? '') && PATTERNS.includes(p ?? '') && SCRIPTS.includes(s ?? '') && text.split(' ').length === 3;
    });
    expect(recombined.length).toBeGreaterThan(CASES * 0.08);

    const statuses = await runDriver(cases);
    expect(statuses).toHaveLength(CASES);
    const mismatches = cases
      .map((text, index) => ({ text, status: statuses[index], expected: expected[index] ? 0 : DENIED }))
      .filter((entry) => entry.status !== entry.expected)
      .slice(0, 10)
      .map((entry) => `${JSON.stringify(entry.text)}: got ${String(entry.status)}, expected ${entry.expected}`);
    expect(mismatches).toEqual([]);
    const ranLines = existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').filter(Boolean) : [];
    // Two drivers run side by side: each allowed command ran exactly once (order across drivers varies).
    expect([...ranLines].sort()).toEqual(
      cases
        .filter((_, index) => expected[index])
        .map(ran)
        .sort(),
    );
  }, 1_200_000);

  it('the triple property on its own: every verb x pattern x script combination (fast-check property)', async () => {
    const combinations = VERBS.flatMap((v) => PATTERNS.flatMap((p) => SCRIPTS.map((s) => `${v} ${p} ${s}`)));
    rmSync(runs, { force: true });
    const statuses = await runDriver(combinations);
    const byCommand = new Map(combinations.map((text, index) => [text, statuses[index]]));
    fc.assert(
      fc.property(fc.constantFrom(...VERBS), fc.constantFrom(...PATTERNS), fc.constantFrom(...SCRIPTS), (v, p, s) => {
        const status = byCommand.get(`${v} ${p} ${s}`);
        return TRIPLES.includes(`${p} ${s} ${v}`) ? status === 0 : status === DENIED;
      }),
      { seed: SEED, numRuns: 1000 },
    );
    expect(readFileSync(runs, 'utf8').split('\n').filter(Boolean).sort()).toEqual(
      TRIPLES.map((t) => t.split(' '))
        .map(([p, s, v]) => `${v} ${p} ${s}`)
        .sort(),
    );
  }, 120_000);
});

describe('fish-wrapper properties behind a real sshd', () => {
  let host: WrapperHost;
  let client: ssh2.Client;
  const sshRuns = () => join(host.dir, 'runs.log');

  beforeAll(async () => {
    host = await startWrapperHost({ scripts: [] });
    mkdirSync(host.scriptsDir, { recursive: true });
    for (const name of SCRIPTS) {
      writeFileSync(join(host.scriptsDir, name), SCRIPT_BODY(join(host.dir, 'runs.log')));
      chmodSync(join(host.scriptsDir, name), 0o755);
    }
    writeFileSync(join(host.dir, 'allow-triples'), `${TRIPLES.join('\n')}\n`);
    client = await new Promise<ssh2.Client>((resolve, reject) => {
      const c = new ssh2.Client();
      c.once('ready', () => resolve(c)).once('error', reject);
      c.connect({ host: host.sshd.host, port: host.sshd.port, username: host.sshd.username, privateKey: host.sshd.privateKey });
    });
  });

  afterAll(async () => {
    client?.end();
    await host?.stop();
  });

  function exec(text: string): Promise<number | undefined> {
    return new Promise((resolve) => {
      client.exec(text, (error, channel) => {
        if (error) return resolve(undefined);
        let code: number | undefined;
        channel.on('data', () => undefined);
        channel.stderr.on('data', () => undefined);
        channel.on('exit', (exitCode: number | null) => (code = exitCode ?? undefined));
        channel.on('close', () => resolve(code));
      });
    });
  }

  it(`${SSHD_CASES} of the generated commands over SSH: same verdicts, same runs`, async () => {
    // Commands sshd itself would reject or alter (control bytes that end the connection) stay in the
    // direct-wrapper property above; here: printable ASCII, as a client would send.
    const installed = sha256(SCRIPT_BODY(join(host.dir, 'runs.log')));
    const sample = fc
      .sample(command, { seed: SEED + 1, numRuns: SSHD_CASES * 3 })
      .map((text) => text.replaceAll('@good', installed))
      .filter((text) => /^[\x20-\x7e]*$/.test(text))
      .slice(0, SSHD_CASES);
    const allowedHere = (text: string) => allowed(text, installed);
    expect(sample.length).toBe(SSHD_CASES);
    const statuses: Array<number | undefined> = [];
    for (let i = 0; i < sample.length; i += 8) {
      statuses.push(...(await Promise.all(sample.slice(i, i + 8).map((text) => exec(text)))));
    }
    const mismatches = sample.filter((text, index) => statuses[index] !== (allowedHere(text) ? 0 : DENIED)).slice(0, 10);
    expect(mismatches).toEqual([]);
    const ranLines = existsSync(sshRuns()) ? readFileSync(sshRuns(), 'utf8').split('\n').filter(Boolean).sort() : [];
    expect(ranLines).toEqual(sample.filter(allowedHere).map(ran).sort());
  }, 300_000);
});
