import { parseArgs } from 'node:util';
import { dirname } from 'node:path';
import { FishError, FishErrorCode, describeError, errorMessage } from '@fish-sre/core';
import { catalogLayers, openCatalog } from './catalog-layers.js';
import { loadConfig } from './config.js';
import { exitStatusOf } from './config-errors.js';
import { composeFish } from './compose.js';
import { runDemo } from './commands/demo.js';
import { catalogMatch, catalogSchema, catalogTest, catalogValidate } from './commands/catalog.js';
import { decideFromTerminal } from './commands/decide.js';
import { doctor } from './commands/doctor.js';
import { printHistory } from './commands/audit.js';

const USAGE = `fish-sre — a personal SRE assistant

Usage:
  fish-sre init [--non-interactive] [--dir DIR]   write a commented fish.yaml, a .env and patterns/, then run doctor
                                             (fish-sre init --help: every flag)
  fish-sre demo [--yes] [--port N]           the whole loop on embedded defaults (no external service)
  fish-sre demo --telegram                   the same, decided with Telegram buttons (FISH_TELEGRAM_BOT_TOKEN,
                                             FISH_TELEGRAM_CHAT_ID, optional FISH_TELEGRAM_API_URL)
  fish-sre run --config fish.yaml             run the loop with a config file
  fish-sre doctor --config fish.yaml          check every configured source, notifier, target and LLM
  fish-sre catalog validate [--catalog DIR]   load and validate the catalog, say where each pattern came from
                                             (--catalog again for each layer, lowest first; \`bundled\` is the
                                             seed catalog; default: the config's catalog, else bundled)
  fish-sre catalog test [--catalog DIR]       run every sample through the real matcher
  fish-sre catalog match [--catalog DIR]      JSON events on stdin -> matching patterns on stdout
  fish-sre catalog schema [--out FILE]        print the JSON Schema of a pattern file
  fish-sre catalog export-target --out DIR [--catalog DIR]   write what install-target.sh puts on a target:
                                             the allowed triples and the scripts of every layer (overrides
                                             and disables applied)
  fish-sre catalog eval --provider claude|ollama [--model M] [--base-url URL] [--json]
                                              accuracy, injection resistance, cost and latency of a model
  fish-sre status --config F [--json]        open incidents, waiting proposals, last fixes, sources, budget
  fish-sre audit list|show <id>|verify [--expect-head SEQ:HASH] --config F (or --demo)   read and verify the audit trail
  fish-sre approve|deny <proposal> [--config F | --demo]

  --env-file F    read KEY=value lines into the environment first (the secrets \${NAME} in the config
                  refers to); variables already set win
`;

const write = (text: string) => process.stdout.write(text);

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'init') {
    const { runInit } = await import('./commands/init.js');
    return runInit(argv.slice(1), { input: process.stdin, write });
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      catalog: { type: 'string', multiple: true },
      out: { type: 'string' },
      yes: { type: 'boolean', short: 'y', default: false },
      demo: { type: 'boolean', default: false },
      telegram: { type: 'boolean', default: false },
      'metrics-port': { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      provider: { type: 'string' },
      model: { type: 'string' },
      'base-url': { type: 'string' },
      json: { type: 'boolean', default: false },
      'expect-head': { type: 'string' },
      'env-file': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, sub, argument] = positionals;
  if (values['env-file']) loadEnvironmentFile(values['env-file']);
  if (values.help || !command) {
    write(USAGE);
    return command ? 0 : 2;
  }
  const requireConfig = () => {
    if (!values.config) throw new Error(`"fish-sre ${command}" needs --config <file>`);
    return values.config;
  };
  switch (command) {
    case 'demo':
      return runDemo({
        yes: values.yes,
        ...(values.telegram ? { telegram: telegramFromEnvironment() } : {}),
        ...(values.port ? { port: Number(values.port) } : {}),
        ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
        ...(values.catalog ? { catalogDir: values.catalog[values.catalog.length - 1]! } : {}),
        ...(values['metrics-port'] ? { metricsPort: Number(values['metrics-port']) } : {}),
      });
    case 'run': {
      // FISH_CRASH_AT=<checkpoint> kills the process with SIGKILL right after that durable step:
      // the crash-test harness uses it to prove exactly-once execution across crashes.
      const crashAt = process.env['FISH_CRASH_AT'];
      const app = await composeFish(
        await loadConfig(requireConfig()),
        crashAt
          ? {
              checkpoint: (step) => {
                if (step === crashAt) process.kill(process.pid, 'SIGKILL');
              },
            }
          : {},
      );
      const unwatch = app.catalog.watchSignal('SIGHUP');
      await app.start();
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      unwatch();
      await app.stop();
      return 0;
    }
    case 'doctor':
      return doctor(requireConfig(), write);
    case 'catalog': {
      const config = !values.catalog && values.config ? await loadConfig(values.config) : undefined;
      // Layers from --catalog (relative to here), else from the config (relative to it), else the seed.
      const entries = values.catalog ?? config?.catalog ?? ['bundled'];
      const baseDir = config ? dirname(config.configPath) : process.cwd();
      const open = (checkScripts: boolean) => openCatalog(entries, baseDir, { checkScripts });
      if (sub === 'validate') return catalogValidate(open(true), write);
      if (sub === 'test') return catalogTest(open(true), write);
      if (sub === 'match') return catalogMatch(open(false), process.stdin, write);
      if (sub === 'schema') return catalogSchema(write, values.out);
      if (sub === 'export-target') {
        if (!values.out) throw new Error('usage: fish-sre catalog export-target --out DIR [--catalog DIR ... | --config F]');
        const { catalogExportTarget } = await import('./commands/export-target.js');
        const layers = catalogLayers(entries, baseDir).flatMap((layer) => ('directory' in layer ? [layer] : []));
        return catalogExportTarget(open(true), layers, values.out, write);
      }
      if (sub === 'eval') {
        if (!values.provider) throw new Error('usage: fish-sre catalog eval --provider claude|ollama [--model M] [--base-url URL] [--json]');
        const { catalogEval } = await import('./commands/eval.js');
        return catalogEval(
          open(false),
          values.provider,
          { ...(values.model ? { model: values.model } : {}), ...(values['base-url'] ? { baseUrl: values['base-url'] } : {}), json: values.json },
          write,
        );
      }
      throw new Error(`unknown catalog command "${sub ?? ''}" (validate, test, match, schema, export-target, eval)`);
    }
    case 'audit': {
      const { composeAuditOnly, openDemoAudit } = await import('./audit-only.js');
      const audit = values.demo ? await openDemoAudit(values['data-dir'] ?? '.fish-demo') : await composeAuditOnly(await loadConfig(requireConfig()));
      try {
        if (sub === 'list') {
          for (const proposal of await audit.listProposals({ limit: 50 })) {
            const execution = await audit.getExecutionByProposal(proposal.id);
            write(`${proposal.createdAt} ${proposal.id} ${proposal.patternId} on ${proposal.targetHost}: ${proposal.status}${execution ? `, execution ${execution.status}` : ''}\n`);
          }
          return 0;
        }
        if (sub === 'show' && argument) {
          await printHistory(audit, write, { entityId: argument });
          const proposal = await audit.getProposal(argument);
          if (proposal) {
            await printHistory(audit, write, { entityId: proposal.incidentId });
            const execution = await audit.getExecutionByProposal(proposal.id);
            if (execution) await printHistory(audit, write, { entityId: execution.id });
          }
          return 0;
        }
        if (sub === 'verify') {
          type Report = { ok: boolean; rows: number; problem?: string; headHash: string; headSeq?: number };
          const verify = (audit as { verifyChain?: (anchor?: { seq: number; hash: string }) => Promise<Report> }).verifyChain;
          if (!verify) throw new Error(`the "${audit.name}" audit store keeps no hash chain; use the sqlite audit store`);
          const expected = values['expect-head'];
          const match = expected === undefined ? null : /^(\d{1,15}):([0-9a-f]{64})$/.exec(expected.trim());
          const anchor = match ? { seq: Number(match[1]), hash: match[2]! } : undefined;
          if (expected !== undefined && anchor === undefined) throw new Error(`--expect-head "${expected}" is not <seq>:<sha256 hex>, as "audit verify" prints the head`);
          const result = await verify.call(audit, anchor);
          // The head, to keep off this machine: `--expect-head` with it later detects a wiped or rebuilt trail.
          write(
            result.ok
              ? `audit chain OK: ${result.rows} rows; head ${result.headSeq ?? result.rows}:${result.headHash}${anchor ? ` (contains the expected head ${anchor.seq})` : ''}\n`
              : `audit chain BROKEN: ${result.problem}\n`,
          );
          return result.ok ? 0 : 1;
        }
        throw new Error(`unknown audit command "${sub ?? ''}" (list, show <id>, verify)`);
      } finally {
        await audit.close?.();
      }
    }
    case 'status': {
      const { collectStatus, formatStatus } = await import('./commands/status.js');
      const { composeAuditOnly } = await import('./audit-only.js');
      const config = await loadConfig(requireConfig());
      const audit = await composeAuditOnly(config);
      try {
        const listen = config.metrics?.listen;
        const host = listen ? (listen.host.includes(':') ? `[${listen.host}]` : listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host) : undefined;
        const status = await collectStatus({ audit, budgetCapEur: config.llm?.monthlyBudgetEur ?? 0, ...(listen && host ? { metricsUrl: `http://${host}:${listen.port}/metrics` } : {}) });
        write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
        return 0;
      } finally {
        await audit.close?.();
      }
    }
    case 'approve':
    case 'deny':
      if (!sub) throw new Error(`usage: fish-sre ${command} <proposal-id>`);
      return decideFromTerminal(command, sub, { ...(values.config ? { config: values.config } : {}), demo: values.demo, ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}) }, write);
    default:
      write(USAGE);
      return 2;
  }
}

// Writes to a pipe are asynchronous: exit only once stdout has flushed, or a large report
// (`catalog eval --json`) reaches the reader cut short.
const exitAfterFlush = (code: number) => process.stdout.write('', () => process.exit(code));

main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (error: unknown) => {
    process.stderr.write(`fish-sre: ${FishError.isInstance(error) ? error.message : describeError(error)}\n`);
    process.exit(exitStatusOf(error));
  },
);

/** The bot token comes from the environment, never from argv (argv is visible to every user). */
function telegramFromEnvironment(): { botToken: string; chatId: number; apiUrl?: string } {
  const botToken = process.env.FISH_TELEGRAM_BOT_TOKEN;
  const chatId = Number(process.env.FISH_TELEGRAM_CHAT_ID);
  if (!botToken || !Number.isInteger(chatId)) throw new Error('demo --telegram needs FISH_TELEGRAM_BOT_TOKEN and FISH_TELEGRAM_CHAT_ID in the environment');
  return { botToken, chatId, ...(process.env.FISH_TELEGRAM_API_URL ? { apiUrl: process.env.FISH_TELEGRAM_API_URL } : {}) };
}

/** `--env-file`: the .env `fish-sre init` writes (KEY=value lines); variables already set win. */
function loadEnvironmentFile(path: string): void {
  try {
    process.loadEnvFile(path);
  } catch (error) {
    throw new FishError({ code: FishErrorCode.CONFIG_INVALID, message: errorMessage('config', `cannot read the environment file ${path}: ${(error as Error).message}`), cause: error });
  }
}
