import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FishError, FishErrorCode, type Logger, errorMessage } from '@fish-sre/core';
import { createSshPool, type HostKeyPolicy, type SshPool, type SshTargetInput } from '@fish-sre/exec-ssh';
import type { BreakglassConfig } from './config.js';
import { ProxmoxClient } from './power/proxmox-client.js';
import { createProxmoxPowerBackend } from './power/proxmox-power-backend.js';
import { createSshPowerBackend } from './power/ssh-power-backend.js';
import type { PowerBackend } from './power/verbs.js';

/**
 * The connections breakglass holds, built once from the configuration and shared by the server,
 * the selftest and the CLI: one SSH pool with the VM (`vm`) and the hypervisor's forced-command key
 * (`hypervisor`), the Proxmox API client when configured, and the power backend.
 */
export interface BreakglassParts {
  pool: SshPool;
  /** The power backend (SSH forced command or Proxmox API). */
  backend: PowerBackend;
  /** The forced-command backend, when the hypervisor's SSH key is configured. */
  sshBackend?: PowerBackend;
  api?: { client: ProxmoxClient; node: string; vmid: number };
  close(): Promise<void>;
}

async function loadPrivateKey(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new FishError({ code: FishErrorCode.CONFIG_INVALID, message: errorMessage('breakglass', `cannot read SSH key file ${path}`), cause });
  }
}

export async function buildParts(config: BreakglassConfig, logger: Logger, overrides: { withVm?: boolean; powerBackend?: PowerBackend } = {}): Promise<BreakglassParts> {
  const targets: Record<string, SshTargetInput> = {};
  if (overrides.withVm !== false) {
    // The VM: a pinned fingerprint when configured, else trust-on-first-use into the data folder
    // (a later change is refused and shown for an explicit re-pin).
    const vmKey: HostKeyPolicy = config.target.hostKeySha256 ? { fingerprint: config.target.hostKeySha256 } : { trustOnFirstUse: true, knownHostsPath: join(config.dataDir, 'known_hosts') };
    targets['vm'] = { host: config.target.host, port: config.target.port, username: config.target.user, privateKey: await loadPrivateKey(config.target.keyFile), hostKey: vmKey };
  }
  const ssh = overrides.powerBackend ? undefined : config.power.ssh;
  if (ssh) {
    if (!ssh.hostKeySha256)
      throw new FishError({
        code: FishErrorCode.CONFIG_INVALID,
        message: errorMessage('breakglass', 'the hypervisor host key must be pinned (BREAKGLASS_PVE_SSH_HOST_KEY_SHA256): it is never trusted on first use'),
      });
    targets['hypervisor'] = { host: ssh.host, port: ssh.port, username: ssh.user, privateKey: await loadPrivateKey(ssh.keyFile), hostKey: { fingerprint: ssh.hostKeySha256 } };
  }
  const pool = createSshPool({ targets, logger, connectTimeoutMs: 10_000, idleCloseMs: 60_000 });
  const timeoutMs = config.power.verbTimeoutMs + config.power.forensicsTimeoutMs;
  const sshBackend = ssh ? createSshPowerBackend({ pool, target: 'hypervisor', timeoutMs }) : undefined;
  const api = config.power.api ? { client: new ProxmoxClient({ ...config.power.api }), node: config.power.api.node, vmid: config.power.api.vmid } : undefined;
  let backend = overrides.powerBackend;
  if (!backend) {
    if (config.power.backend === 'ssh' && sshBackend) backend = sshBackend;
    else if (config.power.api) backend = createProxmoxPowerBackend({ ...config.power.api });
    else throw new FishError({ code: FishErrorCode.CONFIG_INVALID, message: errorMessage('breakglass', 'no power backend configured') });
  }
  return { pool, backend, ...(sshBackend ? { sshBackend } : {}), ...(api ? { api } : {}), close: () => pool.close() };
}
