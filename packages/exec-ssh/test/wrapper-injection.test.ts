import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrapperHost, type WrapperHost } from './helpers.js';

// Raw commands sent with ssh2 directly (the executor's own validation is bypassed) through a real
// OpenSSH sshd to the real fish-wrapper forced command. Every one must be denied with 126, logged,
// and nothing may run: the allowed script records each run, a non-allow-listed script and every
// payload target a canary file.

const DENIED = 126;

let host: WrapperHost;
let canary: string;
let runsLog: string;
let client: Client | undefined;

function connect(): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.setMaxListeners(100);
    c.once('ready', () => resolve(c));
    // sshd drops the connection on some inputs (embedded NUL): forget it so the next exec reconnects.
    c.once('close', () => {
      if (client === c) client = undefined;
    });
    c.once('error', reject);
    c.connect({ host: host.sshd.host, port: host.sshd.port, username: host.sshd.username, privateKey: host.sshd.privateKey });
  });
}

interface Outcome {
  code: number | null | undefined;
  stderr: string;
  transportError?: string;
}

async function rawExec(command: string): Promise<Outcome> {
  client ??= await connect();
  const c = client;
  return new Promise<Outcome>((resolve) => {
    let stderr = '';
    let code: number | null | undefined;
    let done = false;
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      c.removeListener('close', onClose);
      resolve(outcome);
    };
    const onClose = () => finish({ code, stderr, transportError: 'connection closed by sshd' });
    c.once('close', onClose);
    try {
      c.exec(command, (error, channel) => {
        if (error) {
          finish({ code: undefined, stderr, transportError: error.message });
          return;
        }
        channel.on('data', () => undefined);
        channel.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        channel.on('exit', (exitCode: number | null) => (code = exitCode));
        channel.on('close', () => finish({ code, stderr }));
      });
    } catch (error) {
      finish({ code: undefined, stderr, transportError: (error as Error).message });
    }
  });
}

function buildCorpus(canaryPath: string): string[] {
  const touch = `touch ${canaryPath}`;
  const base = 'run good-pat good.sh';
  const tokens = [
    ';',
    '&&',
    '||',
    '|',
    '&',
    `$(${touch})`,
    `\`${touch}\``,
    '\n',
    '\r',
    '\r\n',
    '\t',
    '\v',
    '\f',
    '>',
    '<',
    '>>',
    '2>&1',
    '$IFS',
    '${IFS}',
    '\\',
    "'",
    '"',
    '#',
    '*',
    '?',
    '[a-z]',
    '{a,b}',
    '~',
    '!',
    '%',
    '^',
    '=',
    '+',
    ',',
    ':',
    '@',
    '(',
    ')',
    '$',
    '${PATH}',
    '$0',
    '\u001b[2J',
  ];
  const corpus: string[] = [];
  for (const token of ['\n', ';', '&&', '`', '$(', '|', '\t', '*', '/', ' ']) {
    corpus.push(`${token}${base}`);
    corpus.push(`run good-pat good${token}.sh`);
  }
  for (const token of tokens) {
    corpus.push(`${base}${token}${touch}`);
    corpus.push(`run good-pat${token} good.sh`);
    corpus.push(`run${token}good-pat good.sh`);
  }
  corpus.push(
    // path traversal and paths
    'run good-pat ../good.sh',
    'run good-pat ../../../../bin/sh',
    'run good-pat /bin/sh',
    'run good-pat ./good.sh',
    'run ../good-pat good.sh',
    'run good-pat good.sh/',
    'run good-pat scripts/good.sh',
    'run good-pat ..sh',
    'run good-pat .sh',
    'run good-pat ....sh',
    'run good-pat %2e%2e%2fgood.sh',
    'run good-pat ..%2fgood.sh',
    // globbing
    'run good-pat *.sh',
    'run good-pat g?od.sh',
    'run good-pat [g]ood.sh',
    'run * *',
    'run good-* good.sh',
    'run good-pat good.s?',
    // case and verbs
    'RUN good-pat good.sh',
    'Run good-pat good.sh',
    'run Good-pat good.sh',
    'run good-pat GOOD.SH',
    'run good-pat good.SH',
    'exec good-pat good.sh',
    'shell good-pat good.sh',
    'runn good-pat good.sh',
    'ru good-pat good.sh',
    'rollbackk good-pat good.sh',
    'run-good-pat good.sh',
    'verify',
    'rollback',
    'run',
    'sh -c id',
    'sudo -n id',
    'scp -t /tmp',
    'internal-sftp',
    '/bin/sh',
    'id',
    // unicode look-alikes and invisible characters
    'run gооd-pat good.sh',
    'run good-pat gооd.sh',
    'ｒun good-pat good.sh',
    'run\u00a0good-pat good.sh',
    'run\u3000good-pat good.sh',
    'run good\u200b-pat good.sh',
    'run good-pat good.sh\u200b',
    'run good-pat good\u2024sh',
    'run good\u2010pat good.sh',
    'run good-pat good.ѕh',
    'run good-pat \u202egood.sh',
    'rún good-pat good.sh',
    'run good-pat good.sh\u0301',
    'run goodıpat good.sh',
    '\ufeffrun good-pat good.sh',
    // empty and missing fields, spacing
    '',
    ' ',
    '  ',
    'run ',
    'run good-pat',
    'run good-pat ',
    'run  good.sh',
    ' run good-pat good.sh',
    'run good-pat good.sh ',
    'run  good-pat good.sh',
    'run good-pat  good.sh',
    '   run good-pat good.sh',
    'run\tgood-pat\tgood.sh',
    'run good-pat\tgood.sh',
    // extra fields
    'run good-pat good.sh extra',
    'run good-pat good.sh good.sh',
    'run run good-pat good.sh',
    'run good-pat good.sh -x',
    'run good-pat good.sh --',
    'run good-pat good.sh ;',
    'run good-pat good.sh good-pat good.sh',
    // grammar edges: allowed characters in the wrong place, not allow-listed values
    'run good- good.sh',
    'run -good good.sh',
    'run good-pat -good.sh',
    'run good-pat _good.sh',
    'run good-pat good.sh.sh',
    'run good_pat good.sh',
    'run good.pat good.sh',
    'run g good.sh',
    'run good-pat .good.sh',
    'run other-pat good.sh',
    'run good-pat evil.sh',
    'verify good-pat evil.sh',
    'rollback evil-pat evil.sh',
    'run evil-pat good.sh',
    'run good-pat good',
    // allowed pattern and script, but not with this verb: the triple decides
    'rollback good-pat good.sh',
    // long arguments
    `run ${'a'.repeat(65)} good.sh`,
    `run good-pat ${'a'.repeat(64)}.sh`,
    `run ${'a'.repeat(10_000)} good.sh`,
    `run good-pat ${'a'.repeat(100_000)}.sh`,
    `${base} ${'x'.repeat(5000)}`,
    `run ${'good-pat '.repeat(500)}good.sh`,
  );
  return [...new Set(corpus)];
}

// SSH_ORIGINAL_COMMAND is a C string, so the wrapper can never see a NUL. Observed with OpenSSH 9.2:
// sshd (sshbuf_get_cstring) accepts one trailing NUL and drops it, and refuses a command with an
// embedded NUL by closing the whole connection. Either way nothing after a NUL can run.
const NUL_INPUTS: Array<[string, 'allowed' | 'denied']> = [
  ['run good-pat good.sh\0', 'allowed'],
  [`run good-pat good.sh\0; touch CANARY`, 'denied'],
  ['run good-pat\0 good.sh', 'denied'],
  ['run good-pat good.sh;\0', 'denied'],
  ['\0run good-pat good.sh', 'denied'],
  ['\0', 'denied'],
];

beforeAll(async () => {
  host = await startWrapperHost({
    scripts: [
      { patternId: 'good-pat', script: 'good.sh', content: '#!/bin/sh\necho "$1" >> "$(dirname "$0")/../runs.log"\n' },
      // Present in the scripts folder but in no allow-list: must never run.
      { patternId: 'evil-pat', script: 'evil.sh', content: '#!/bin/sh\ntouch "$(dirname "$0")/../canary"\n' },
    ],
  });
  // evil.sh is installed but in no allowed triple.
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(host.dir, 'allow-triples'), 'good-pat good.sh run\ngood-pat good.sh verify\n');
  canary = join(host.dir, 'canary');
  runsLog = join(host.dir, 'runs.log');
});

afterAll(async () => {
  client?.end();
  await host?.stop();
});

describe('fish-wrapper behind a real sshd: injection corpus', () => {
  it('accepts the one well-formed allowed command (control)', async () => {
    const outcome = await rawExec('verify good-pat good.sh');
    expect(outcome.code).toBe(0);
    expect(readFileSync(runsLog, 'utf8')).toBe('verify\n');
  });

  it('denies every malformed or non-allow-listed command with 126, logs each, runs nothing', async () => {
    const corpus = buildCorpus(canary);
    expect(corpus.length).toBeGreaterThanOrEqual(200);
    const denyLines = () =>
      existsSync(host.denyLog)
        ? readFileSync(host.denyLog, 'utf8')
            .split('\n')
            .filter((l) => l.includes(' DENY ')).length
        : 0;
    const before = denyLines();
    const failures: string[] = [];
    // Several channels at once on one connection, in bounded batches.
    for (let i = 0; i < corpus.length; i += 8) {
      const batch = corpus.slice(i, i + 8);
      const outcomes = await Promise.all(batch.map((command) => rawExec(command)));
      outcomes.forEach((outcome, j) => {
        if (outcome.code !== DENIED || !outcome.stderr.includes('fish-wrapper: denied')) {
          failures.push(`${JSON.stringify(batch[j]).slice(0, 80)} -> ${String(outcome.code)} ${outcome.transportError ?? ''} ${outcome.stderr.slice(0, 80)}`);
        }
      });
    }
    expect(failures).toEqual([]);
    expect(denyLines() - before).toBe(corpus.length);
    expect(existsSync(canary)).toBe(false);
    expect(readFileSync(runsLog, 'utf8')).toBe('verify\n');
    // The log never carries the raw bytes: one line per denial, only safe characters.
    const log = readFileSync(host.denyLog, 'utf8');
    for (const line of log.split('\n').filter(Boolean)) expect(line).toMatch(/^[A-Za-z0-9 ._:?"=()-]+$/);
  }, 60_000);

  it('a shell request (no command) is denied as no-command', async () => {
    const c = client ?? (client = await connect());
    const outcome = await new Promise<Outcome>((resolve) => {
      c.shell(false, (error, channel) => {
        if (error) return resolve({ code: undefined, stderr: '', transportError: error.message });
        let stderr = '';
        let code: number | null | undefined;
        channel.on('data', () => undefined);
        channel.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        channel.on('exit', (exitCode: number | null) => (code = exitCode));
        channel.on('close', () => resolve({ code, stderr }));
      });
    });
    expect(outcome.code).toBe(DENIED);
    expect(outcome.stderr).toContain('denied (no-command)');
    expect(existsSync(canary)).toBe(false);
  });

  it('NUL bytes: only the prefix before the NUL reaches the wrapper, nothing after it runs', async () => {
    const runsBefore = readFileSync(runsLog, 'utf8');
    let allowed = 0;
    for (const [raw, expected] of NUL_INPUTS) {
      const command = raw.replace('CANARY', canary);
      const outcome = await rawExec(command);
      if (expected === 'allowed') {
        allowed += 1;
        expect(outcome.code).toBe(0);
      } else {
        // Denied by the wrapper, or refused by sshd before any command ran.
        expect(outcome.code === DENIED || (outcome.code === undefined && outcome.transportError !== undefined)).toBe(true);
      }
    }
    expect(readFileSync(runsLog, 'utf8')).toBe(runsBefore + 'run\n'.repeat(allowed));
    expect(existsSync(canary)).toBe(false);
  });
});
