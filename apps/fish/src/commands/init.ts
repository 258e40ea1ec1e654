import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { bundledCatalogDir } from '../paths.js';
import { doctor } from './doctor.js';
import { renderConfig, renderEnv, renderPatternsReadme, type InitAnswers, type InitNotifier, type InitSecrets, type InitTarget } from './init-files.js';

export const INIT_USAGE = `fish-sre init — write a commented fish.yaml, a .env for its secrets and a patterns/ folder, then run doctor

Usage:
  fish-sre init [--dir DIR] [--force]                     asks each question (flags given are not asked)
  fish-sre init --non-interactive [flags]                 for scripts: flags and defaults only

Flags:
  --dir DIR                  where to write (default: the current folder)
  --loki-url URL             Loki (or its query-frontend); --loki-query LOGQL, --loki-tenant ID
  --prometheus-url URL       Prometheus (at least one of Loki and Prometheus)
  --ntfy-server URL          ntfy server (default https://ntfy.sh); --ntfy-topic T (default: generated)
  --telegram-chat-id N       Telegram instead of ntfy (bot token: FISH_TELEGRAM_BOT_TOKEN in the environment)
  --target NAME=USER@IP[:PORT]   an SSH target, repeatable; --ssh-key PATH (default ~/.ssh/id_ed25519)
  --known-hosts PATH         the targets' host keys (default: known_hosts in DIR)
  --data-dir DIR             fish's state (default: data, beside fish.yaml)
  --public-url URL           where your phone reaches the approval endpoint (default http://127.0.0.1:PORT)
  --approval-port N          default 8080; --metrics-port N default 9464
  --force                    overwrite fish.yaml, .env and patterns/README.md
  --skip-doctor              do not run doctor on the result

Secrets are never flags (argv is visible to every user): FISH_APPROVAL_SECRET (default: generated),
FISH_NTFY_TOKEN and FISH_TELEGRAM_BOT_TOKEN are read from the environment or asked for.
`;

const DEFAULT_LOKI_QUERY = '{detected_level=~"error|warn|critical|fatal"}';
const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const POSIX_USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const NTFY_TOPIC = /^[-_A-Za-z0-9]{1,64}$/;
const LOKI_TENANT = /^[A-Za-z0-9!\-_.*'()]{1,150}$/;

/** A wrong answer: the question (or flag) and what was expected. */
class InitInputError extends Error {}

type Check<T> = (answer: string) => T;

const httpUrl: Check<string> = (answer) => {
  let url: URL;
  try {
    url = new URL(answer);
  } catch {
    throw new InitInputError(`"${answer}" is not a URL (expected http://host:port or https://...)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InitInputError(`"${answer}" must start with http:// or https://`);
  return answer.replace(/\/+$/, '');
};
const matching =
  (pattern: RegExp, expected: string): Check<string> =>
  (answer) => {
    if (!pattern.test(answer)) throw new InitInputError(`"${answer}" is not valid: ${expected}`);
    return answer;
  };
const port =
  (minimum: number): Check<number> =>
  (answer) => {
    const value = Number(answer);
    if (!/^\d+$/.test(answer) || value < minimum || value > 65535) throw new InitInputError(`"${answer}" is not a port (${minimum}-65535)`);
    return value;
  };
const ipAddress: Check<string> = (answer) => {
  const host = answer.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) === 0) throw new InitInputError(`"${answer}" is not an IP address (fish connects to addresses, never names: a DNS answer could redirect a fix)`);
  return host;
};
const chatId: Check<number> = (answer) => {
  if (!/^-?\d+$/.test(answer)) throw new InitInputError(`"${answer}" is not a Telegram chat id (an integer; negative for a group)`);
  return Number(answer);
};
const absolutePath: Check<string> = (answer) => resolve(answer.replace(/^~(?=$|\/)/, homedir()));

/** `penny=fish@192.168.1.10:2806` (IPv6 in brackets: `nas=fish@[fd00::2]:22`). */
function parseTarget(spec: string, keyPath: string): InitTarget {
  const found = /^([^=]+)=([^@]+)@(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec);
  if (!found) throw new InitInputError(`--target "${spec}": expected NAME=USER@IP[:PORT], e.g. penny=fish@192.168.1.10:22`);
  const [, name = '', username = '', host = '', portText] = found;
  const where = `--target "${spec}"`;
  const within = <T>(check: () => T) => {
    try {
      return check();
    } catch (error) {
      throw new InitInputError(`${where}: ${(error as Error).message}`);
    }
  };
  return {
    name: within(() => matching(TARGET_NAME, 'a target name is letters, digits, . _ - (at most 63)')(name)),
    username: within(() => matching(POSIX_USER, 'expected a POSIX user name')(username)),
    host: within(() => ipAddress(host)),
    port: portText === undefined ? 22 : within(() => port(1)(portText)),
    privateKeyPath: keyPath,
  };
}

/** Asks on a line-based stream (a terminal or a pipe); flags already given are not asked. */
class Questions {
  private readonly lines: AsyncIterator<string>;
  constructor(
    private readonly readline: ReturnType<typeof createInterface>,
    private readonly write: (text: string) => void,
  ) {
    // The iterator buffers lines that arrive before the question is asked (piped input).
    this.lines = readline[Symbol.asyncIterator]();
  }

  async ask<T>(question: string, check: Check<T>, fallback?: string): Promise<T> {
    for (;;) {
      this.write(`${question}${fallback === undefined || fallback === '' ? '' : ` [${fallback}]`}: `);
      const next = await this.lines.next();
      if (next.done) throw new InitInputError(`the input ended before "${question}" was answered`);
      const answer = next.value.trim() || fallback || '';
      try {
        return check(answer);
      } catch (error) {
        if (!(error instanceof InitInputError)) throw error;
        this.write(`  ${error.message}\n`);
      }
    }
  }

  close(): void {
    this.readline.close();
  }
}

const optional =
  <T>(check: Check<T>): Check<T | undefined> =>
  (answer) =>
    answer === '' ? undefined : check(answer);

type Flags = ReturnType<typeof parseFlags>['values'];

function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      'non-interactive': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      'skip-doctor': { type: 'boolean', default: false },
      'loki-url': { type: 'string' },
      'loki-query': { type: 'string' },
      'loki-tenant': { type: 'string' },
      'prometheus-url': { type: 'string' },
      'ntfy-server': { type: 'string' },
      'ntfy-topic': { type: 'string' },
      'telegram-chat-id': { type: 'string' },
      target: { type: 'string', multiple: true },
      'ssh-key': { type: 'string' },
      'known-hosts': { type: 'string' },
      'data-dir': { type: 'string' },
      'public-url': { type: 'string' },
      'approval-port': { type: 'string' },
      'metrics-port': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

/** A flag's value through its check, the flag named in the error. */
function flag<T>(flags: Flags, name: keyof Flags, check: Check<T>): T | undefined {
  const value = flags[name];
  if (typeof value !== 'string') return undefined;
  try {
    return check(value);
  } catch (error) {
    throw new InitInputError(`--${name}: ${(error as Error).message}`);
  }
}

const generatedTopic = () =>
  `fish-${randomBytes(12)
    .toString('base64url')
    .replace(/[^A-Za-z0-9]/g, 'x')}`;

async function collectAnswers(flags: Flags, directory: string, questions: Questions | undefined, env: NodeJS.ProcessEnv): Promise<{ answers: InitAnswers; secrets: InitSecrets }> {
  const ask = async <T>(given: T | undefined, question: string, check: Check<T>, fallback?: string): Promise<T> => {
    if (given !== undefined) return given;
    if (questions) return questions.ask(question, check, fallback);
    return check(fallback ?? '');
  };
  const interactive = questions !== undefined;

  const lokiUrl = flag(flags, 'loki-url', httpUrl) ?? (interactive && !flags['prometheus-url'] ? await questions.ask('Loki URL (empty: no Loki)', optional(httpUrl), '') : undefined);
  let loki: InitAnswers['loki'];
  if (lokiUrl) {
    const query = await ask(flag(flags, 'loki-query', matching(/\S/, 'a LogQL query')), 'LogQL query of the lines to watch', matching(/\S/, 'a LogQL query'), DEFAULT_LOKI_QUERY);
    const tenant =
      flags['loki-tenant'] !== undefined
        ? flag(flags, 'loki-tenant', matching(LOKI_TENANT, "one tenant id: letters, digits and !-_.*'()"))
        : interactive
          ? await questions.ask('Loki tenant (X-Scope-OrgID; empty: none)', optional(matching(LOKI_TENANT, "one tenant id: letters, digits and !-_.*'()")), '')
          : undefined;
    loki = { url: lokiUrl, query, ...(tenant ? { tenant } : {}) };
  }
  const prometheusUrl = flag(flags, 'prometheus-url', httpUrl) ?? (interactive && !flags['loki-url'] ? await questions.ask('Prometheus URL (empty: no Prometheus)', optional(httpUrl), '') : undefined);
  if (!loki && !prometheusUrl) throw new InitInputError('fish needs at least one source: give --loki-url or --prometheus-url (or both)');

  let notifier: InitNotifier;
  const secrets: InitSecrets = { approvalSecret: env['FISH_APPROVAL_SECRET'] && env['FISH_APPROVAL_SECRET'].length >= 32 ? env['FISH_APPROVAL_SECRET'] : randomBytes(33).toString('base64url') };
  const kindGiven = flags['telegram-chat-id'] !== undefined ? 'telegram' : flags['ntfy-server'] !== undefined || flags['ntfy-topic'] !== undefined ? 'ntfy' : undefined;
  const kind = await ask(kindGiven, 'Notifier: ntfy or telegram', matching(/^(ntfy|telegram)$/, 'answer ntfy or telegram'), 'ntfy');
  if (kind === 'telegram') {
    const chat = await ask(flag(flags, 'telegram-chat-id', chatId), 'Telegram chat id (your user id, from @userinfobot)', chatId);
    notifier = { type: 'telegram', chatId: chat };
    const token = env['FISH_TELEGRAM_BOT_TOKEN'] ?? (interactive ? await questions.ask('Bot token from @BotFather (shown as you type; empty: fill .env later)', (answer) => answer, '') : undefined);
    if (token) secrets.telegramBotToken = token;
  } else {
    const server = await ask(flag(flags, 'ntfy-server', httpUrl), 'ntfy server', httpUrl, 'https://ntfy.sh');
    const topicCheck = matching(NTFY_TOPIC, 'a topic is 1-64 characters of A-Z a-z 0-9 _ -');
    const topic = await ask(
      flag(flags, 'ntfy-topic', topicCheck) ?? (env['FISH_NTFY_TOPIC'] ? topicCheck(env['FISH_NTFY_TOPIC']) : undefined),
      'ntfy topic (long and unguessable on a public server)',
      topicCheck,
      generatedTopic(),
    );
    notifier = { type: 'ntfy', server, topic };
    if (env['FISH_NTFY_TOKEN']) secrets.ntfyToken = env['FISH_NTFY_TOKEN'];
  }

  const defaultKey = join(homedir(), '.ssh', 'id_ed25519');
  const keyPath = flag(flags, 'ssh-key', absolutePath) ?? defaultKey;
  const targets: InitTarget[] = (flags.target ?? []).map((spec) => parseTarget(spec, keyPath));
  const twice = targets.find((target, index) => targets.findIndex((other) => other.name === target.name) !== index);
  if (twice) throw new InitInputError(`--target: "${twice.name}" is given twice`);
  if (interactive && targets.length === 0) {
    let lastKey = keyPath;
    for (;;) {
      const unique: Check<string> = (answer) => {
        if (targets.some((target) => target.name === answer)) throw new InitInputError(`"${answer}" is already a target`);
        return matching(TARGET_NAME, 'letters, digits, . _ - (at most 63)')(answer);
      };
      const name = await questions.ask(`SSH target ${targets.length + 1}: name patterns use (empty: ${targets.length === 0 ? 'none for now' : 'done'})`, optional(unique), '');
      if (!name) break;
      const host = await questions.ask(`  ${name}: IP address`, ipAddress);
      const sshPort = await questions.ask(`  ${name}: SSH port`, port(1), '22');
      const username = await questions.ask(`  ${name}: user (its key is forced through fish-wrapper)`, matching(POSIX_USER, 'a POSIX user name'), 'fish');
      lastKey = await questions.ask(`  ${name}: private key`, absolutePath, lastKey);
      targets.push({ name, host, port: sshPort, username, privateKeyPath: lastKey });
    }
  }
  const knownHostsPath = await ask(flag(flags, 'known-hosts', absolutePath), "known_hosts file with the targets' host keys", absolutePath, join(directory, 'known_hosts'));
  const dataDir = await ask(flags['data-dir'], 'Data folder (audit, read positions; relative to fish.yaml)', matching(/\S/, 'a folder'), 'data');
  const approvalPort = await ask(flag(flags, 'approval-port', port(0)), 'Approval endpoint port (on 127.0.0.1)', port(0), '8080');
  const metricsPort = flag(flags, 'metrics-port', port(0)) ?? 9464;
  const publicUrl = await ask(flag(flags, 'public-url', httpUrl), 'URL your phone opens to reach it (tunnel / reverse proxy)', httpUrl, `http://127.0.0.1:${approvalPort || 8080}`);
  return {
    answers: { ...(loki ? { loki } : {}), ...(prometheusUrl ? { prometheus: { url: prometheusUrl } } : {}), notifier, targets, knownHostsPath, dataDir, publicUrl, approvalPort, metricsPort },
    secrets,
  };
}

function nextSteps(answers: InitAnswers, directory: string): string {
  const config = relative(process.cwd(), join(directory, 'fish.yaml')) || 'fish.yaml';
  const envFile = relative(process.cwd(), join(directory, '.env')) || '.env';
  const steps = [
    answers.notifier.type === 'ntfy'
      ? `Subscribe to the topic in the ntfy app: ${answers.notifier.server}/<FISH_NTFY_TOPIC in ${envFile}>.`
      : `Send /start to your bot from chat ${answers.notifier.chatId}; put its token in ${envFile} (FISH_TELEGRAM_BOT_TOKEN).`,
    ...(answers.targets.length > 0
      ? [
          'On each target, as root: apps/fish/deploy/install-target.sh DIR (fish-wrapper, allow-lists, the fish user), DIR written here by `fish-sre catalog export-target --config fish.yaml --out DIR`; see apps/fish/deploy/README.md.',
          `Add each target's host key to ${answers.knownHostsPath}: ${answers.targets.map((target) => `ssh-keyscan -p ${target.port} ${target.host}`).join('; ')} >> it, after comparing with \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on the host.`,
        ]
      : ['Add SSH targets under executor.options.targets when a host is ready for fish-wrapper.']),
    `fish-sre doctor --config ${config} --env-file ${envFile}   until every line is ✓`,
    `fish-sre run --config ${config} --env-file ${envFile}      (dryRun: true until the first proposals look right)`,
    'For a service: copy fish.yaml to /etc/fish-sre/, .env to /etc/fish-sre/credentials/secrets.env (0600) and install fish.service (README: "Install from npm").',
  ];
  return `\nNext:\n${steps.map((step, index) => `  ${index + 1}. ${step}`).join('\n')}\n`;
}

/**
 * `fish-sre init`: asks for (or takes as flags) the sources, the notifier, the SSH targets and
 * the data folder, writes fish.yaml, .env (0600) and patterns/README.md without overwriting
 * anything unless `--force`, then runs doctor on the result.
 * @returns the exit code: 2 for a usage mistake or a file in the way, else doctor's
 */
export async function runInit(argv: string[], io: { input: NodeJS.ReadableStream; write: (text: string) => void; env?: NodeJS.ProcessEnv }): Promise<number> {
  const { write } = io;
  const env = io.env ?? process.env;
  let flags: Flags;
  try {
    flags = parseFlags(argv).values;
  } catch (error) {
    write(`fish-sre init: ${(error as Error).message}\n\n${INIT_USAGE}`);
    return 2;
  }
  if (flags.help) {
    write(INIT_USAGE);
    return 0;
  }
  const directory = resolve(flags.dir ?? '.');
  const files = { config: join(directory, 'fish.yaml'), env: join(directory, '.env'), patternsReadme: join(directory, 'patterns', 'README.md') };
  const inTheWay = Object.values(files).filter((file) => existsSync(file));
  if (inTheWay.length > 0 && !flags.force) {
    write(`fish-sre init: ${inTheWay.map((file) => relative(process.cwd(), file) || file).join(', ')} already exist${inTheWay.length === 1 ? 's' : ''}; nothing was written (--force overwrites)\n`);
    return 2;
  }
  const questions = flags['non-interactive'] ? undefined : new Questions(createInterface({ input: io.input, terminal: false }), write);
  let collected;
  try {
    collected = await collectAnswers(flags, directory, questions, env);
  } catch (error) {
    if (!(error instanceof InitInputError)) throw error;
    write(`${questions ? '\n' : ''}fish-sre init: ${error.message}; nothing was written\n`);
    return 2;
  } finally {
    questions?.close();
  }
  const { answers, secrets } = collected;
  await mkdir(join(directory, 'patterns'), { recursive: true });
  await writeFile(files.config, renderConfig(answers, new Date()));
  await writeFile(files.env, renderEnv(answers, secrets), { mode: 0o600 });
  await chmod(files.env, 0o600);
  await writeFile(files.patternsReadme, renderPatternsReadme(bundledCatalogDir([directory])));
  write(`\nWrote ${files.config}, ${files.env} (mode 0600) and ${files.patternsReadme}.\n`);
  let code = 0;
  if (!flags['skip-doctor']) {
    write('\nfish-sre doctor:\n');
    // The secrets just written are what doctor needs; variables already set win, as with --env-file.
    process.loadEnvFile(files.env);
    code = await doctor(files.config, write);
  }
  write(nextSteps(answers, directory));
  return code;
}
