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
import { PowerService } from './power/power-service.js';
import { createProxmoxPowerBackend } from './power/proxmox-power-backend.js';
import { createSshPowerBackend } from './power/ssh-power-backend.js';
import type { PowerBackend } from './power/verbs.js';
import { SshConnectionPool, type SshTargetInput } from '@fish-sre/exec-ssh';
import { loadPrivateKey, quoteArgv, sshExec } from './ssh/ssh-exec.js';

export interface StartOptions {
  config: BreakglassConfig;
  /** The agent's model. Injected so breakglass never depends on one vendor (and tests can script it). */
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

  // One pool, two targets: the VM the agent repairs, and the hypervisor's forced-command key.
  // A pinned fingerprint when configured, else trust-on-first-use into the data folder.
  const hostKey = (pin: string | undefined) => (pin ? { fingerprint: pin } : { trustOnFirstUse: true as const, knownHostsPath: join(config.dataDir, 'known_hosts') });
  const targets: Record<string, SshTargetInput> = {};
  if (!options.runCommand) {
    targets['vm'] = { host: config.target.host, port: config.target.port, username: config.target.user, privateKey: await loadPrivateKey(config.target.keyFile), hostKey: hostKey(config.target.hostKeySha256) };
  }
  if (!options.powerBackend && config.power.backend === 'ssh' && config.power.ssh) {
    const ssh = config.power.ssh;
    targets['hypervisor'] = { host: ssh.host, port: ssh.port, username: ssh.user, privateKey: await loadPrivateKey(ssh.keyFile), hostKey: hostKey(ssh.hostKeySha256) };
  }
  const pool = new SshConnectionPool({ targets, logger, connectTimeoutMs: 10_000, idleCloseMs: 60_000 });

  const runCommand: CommandRunner =
    options.runCommand ??
    ((argv, run) => sshExec(pool, 'vm', quoteArgv(argv), { timeoutMs: run.timeoutMs, outputLimitBytes: config.agent.outputLimitBytes, signal: run.signal }));

  let backend = options.powerBackend;
  if (!backend) {
    if (targets['hypervisor']) {
      backend = createSshPowerBackend({ pool, target: 'hypervisor', timeoutMs: config.power.verbTimeoutMs });
    } else if (config.power.api) {
      backend = createProxmoxPowerBackend({ ...config.power.api });
    } else {
      throw new Error('no power backend configured');
    }
  }
  const power = new PowerService({ backend, timeoutMs: config.power.verbTimeoutMs, logFile: join(config.dataDir, 'power.jsonl'), logger });

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
    logger,
  });
  await sessions.load();

  const app = createApp({
    sessions,
    power,
    auth: config.auth,
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
    async close() {
      await sessions.close();
      await pool.close();
      await new Promise<void>((resolve) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}
