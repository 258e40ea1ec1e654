import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { type LLMProvider, type Logger, silentLogger } from '@fish-sre/core';
import type { BreakglassConfig } from './config.js';
import { SessionManager, type CommandRunner } from './agent/session.js';
import { buildSystemPrompt } from './agent/system-prompt.js';
import { createApp } from './http/app.js';
import { LoginSessions } from './http/auth.js';
import { PowerService } from './power/power-service.js';
import type { PowerBackend } from './power/verbs.js';
import { buildParts } from './parts.js';
import { runSelftest } from './selftest.js';
import { HostKeyGuard } from './ssh/host-keys.js';
import { openTrail } from './trail/trail.js';

export interface StartOptions {
  config: BreakglassConfig;
  /** The agent's model (built through the plugin registry by the CLI; tests script one). */
  provider: LLMProvider;
  logger?: Logger;
  /** Overrides (tests): the target command runner, the power backend, the UI folder. */
  runCommand?: CommandRunner;
  powerBackend?: PowerBackend;
  webRoot?: string;
}

export interface RunningBreakglass {
  url: string;
  port: number;
  sessions: SessionManager;
  hostKeys: HostKeyGuard | undefined;
  close(): Promise<void>;
}

/** dist/web next to the built server (dist/index.js). */
export function defaultWebRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'web');
}

export async function startBreakglass(options: StartOptions): Promise<RunningBreakglass> {
  const { config } = options;
  const logger = options.logger ?? silentLogger;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const trail = await openTrail(join(config.dataDir, 'trail.jsonl'));
  const parts = await buildParts(config, logger, { withVm: !options.runCommand, ...(options.powerBackend ? { powerBackend: options.powerBackend } : {}) });
  const backend = parts.backend;
  // The hypervisor's view (read-only verbs) goes through the forced command when it is configured.
  const hypervisor = parts.sshBackend ?? backend;

  const hostKeys = parts.pool.has('vm') ? new HostKeyGuard({ pool: parts.pool, file: join(config.dataDir, 'host-keys.json'), trail, hypervisor, logger }) : undefined;
  await hostKeys?.load();

  const runCommand: CommandRunner =
    options.runCommand ??
    ((argv, run) => parts.pool.run('vm', { argv }, { timeoutMs: run.timeoutMs, outputLimitBytes: config.agent.outputLimitBytes, signal: run.signal, killGraceMs: 2000, closeAfterKillMs: 1000 }));

  const power = new PowerService({ backend, timeoutMs: config.power.verbTimeoutMs, forensicsTimeoutMs: config.power.forensicsTimeoutMs, trail, logger });

  const target = `${config.target.user}@${config.target.host}`;
  const sessions = new SessionManager({
    provider: options.provider,
    runCommand,
    dataDir: config.dataDir,
    systemPrompt: buildSystemPrompt({ vmName: config.power.vmName, target: config.target.host, user: config.target.user, approval: config.agent.approval }),
    approval: config.agent.approval,
    maxConcurrentTurns: config.agent.maxConcurrentTurns,
    turnTimeoutMs: config.agent.turnTimeoutMs,
    maxSteps: config.agent.maxSteps,
    commandTimeoutMs: config.agent.commandTimeoutMs,
    outputLimitBytes: config.agent.outputLimitBytes,
    ...(config.agent.model ? { model: config.agent.model } : {}),
    ...(config.agent.readRoots ? { readRoots: config.agent.readRoots } : {}),
    spendCaps: config.agent.spendCaps,
    trail,
    inspectHypervisor: (view, signal) => hypervisor.inspect(view, signal),
    ...(hostKeys ? { onCommandError: (error: unknown) => hostKeys.noteError(error) } : {}),
    logger,
  });
  await sessions.load();

  const app = createApp({
    sessions,
    power,
    auth: config.auth,
    logins: new LoginSessions(),
    trail,
    ...(hostKeys ? { hostKeys } : {}),
    selftest: () => runSelftest({ provider: options.provider, pool: parts.pool, ...(parts.api ? { api: parts.api } : {}) }),
    peer: (c) => {
      try {
        return getConnInfo(c).remote.address;
      } catch {
        return undefined;
      }
    },
    webRoot: options.webRoot ?? defaultWebRoot(),
    keepAliveMs: config.sseKeepAliveMs,
    info: { vmName: config.power.vmName, target, powerBackend: backend.kind, approval: config.agent.approval, llm: `${options.provider.provider}/${options.provider.modelId}` },
  });

  const server: ServerType = await new Promise((resolve) => {
    const created = serve({ fetch: app.fetch, hostname: config.listen.host, port: config.listen.port }, () => resolve(created));
  });
  const port = (server.address() as AddressInfo).port;
  logger.info('breakglass listening', { host: config.listen.host, port });
  return {
    url: `http://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${port}`,
    port,
    sessions,
    hostKeys,
    async close() {
      await sessions.close();
      await parts.close();
      await new Promise<void>((resolve) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}
