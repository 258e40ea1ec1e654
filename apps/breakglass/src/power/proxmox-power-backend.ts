import { FishError, describeError } from '@fish-sre/core';
import { ProxmoxClient, type ProxmoxClientOptions } from './proxmox-client.js';
import { type InspectResult, type InspectVerb, type PowerBackend, type PowerResult, type PowerVerb, parsePowerVerb } from './verbs.js';

export interface ProxmoxPowerBackendOptions extends ProxmoxClientOptions {
  node: string;
  vmid: number;
  /** Task polling interval. @default 500 */
  pollMs?: number;
  /** How long the guest gets to power off after the ACPI button (shutdown, cycle). @default 120 */
  shutdownTimeoutSeconds?: number;
  /** How long a hard stop may take (stop, cycle). @default 60 */
  stopTimeoutSeconds?: number;
}

/**
 * Power verbs through the Proxmox VE API with a `VM.PowerMgmt` token. Every mutating call returns
 * a UPID and is polled to its end. `shutdown` is the ACPI button with a timeout; `cycle` is that
 * shutdown, then (if the guest did not power off) a hard stop, then start.
 */
export function createProxmoxPowerBackend(options: ProxmoxPowerBackendOptions): PowerBackend {
  const client = new ProxmoxClient(options);
  const { node, vmid } = options;
  const pollMs = options.pollMs ?? 500;
  const shutdownTimeout = options.shutdownTimeoutSeconds ?? 120;
  const stopTimeout = options.stopTimeoutSeconds ?? 60;

  const act = async (action: 'start' | 'stop' | 'reset' | 'shutdown', signal: AbortSignal, log: string[], parameters: Record<string, string> = {}) => {
    const upid = await client.powerAction(node, vmid, action, signal, parameters);
    log.push(`${action}: task ${upid}`);
    const done = await client.waitForTask(node, upid, signal, pollMs);
    log.push(`${action}: ${done.exitstatus ?? 'OK'}`);
  };

  return {
    kind: 'proxmox-api',
    capturesForensics: false,
    async run(verb: PowerVerb, signal: AbortSignal): Promise<PowerResult> {
      const checked = parsePowerVerb(verb);
      const started = Date.now();
      const log: string[] = [];
      try {
        switch (checked) {
          case 'status': {
            const status = await client.vmStatus(node, vmid, signal);
            return {
              verb: checked,
              ok: true,
              state: status.status,
              output: `status: ${status.status}${status.qmpstatus ? ` (qmp: ${status.qmpstatus})` : ''}${status.uptime !== undefined ? `, uptime ${status.uptime}s` : ''}`,
              durationMs: Date.now() - started,
            };
          }
          case 'forensics': {
            const status = await client.vmStatus(node, vmid, signal);
            let tasks: unknown;
            try {
              tasks = await client.recentTasks(node, vmid, signal);
            } catch (error) {
              tasks = `unavailable: ${describeError(error)}`;
            }
            return { verb: checked, ok: true, state: status.status, output: JSON.stringify({ status, recentTasks: tasks }, null, 2), durationMs: Date.now() - started };
          }
          case 'shutdown':
            await act('shutdown', signal, log, { timeout: String(shutdownTimeout) });
            break;
          case 'cycle': {
            const before = await client.vmStatus(node, vmid, signal);
            if (before.status === 'running') {
              try {
                await act('shutdown', signal, log, { timeout: String(shutdownTimeout) });
              } catch (error) {
                if (signal.aborted) throw error;
                log.push(`shutdown: the guest did not power off in time (${FishError.isInstance(error) ? error.message : describeError(error)})`);
              }
              if ((await client.vmStatus(node, vmid, signal)).status !== 'stopped') await act('stop', signal, log, { timeout: String(stopTimeout) });
            } else {
              log.push(`shutdown: skipped, VM was ${before.status}`);
            }
            await act('start', signal, log);
            break;
          }
          case 'stop':
            await act('stop', signal, log, { timeout: String(stopTimeout) });
            break;
          case 'reset':
          case 'start':
            await act(checked, signal, log);
            break;
        }
        const after = await client.vmStatus(node, vmid, signal);
        log.push(`status: ${after.status}`);
        return { verb: checked, ok: true, state: after.status, output: log.join('\n'), durationMs: Date.now() - started };
      } catch (error) {
        log.push(FishError.isInstance(error) ? error.message : describeError(error));
        return { verb: checked, ok: false, output: log.join('\n'), durationMs: Date.now() - started };
      }
    },
    async inspect(verb: InspectVerb, signal: AbortSignal): Promise<InspectResult> {
      const started = Date.now();
      try {
        let data: unknown;
        if (verb === 'status') data = await client.vmStatus(node, vmid, signal);
        else if (verb === 'config') data = await client.vmConfig(node, vmid, signal);
        else if (verb === 'tasks') data = await client.recentTasks(node, vmid, signal);
        else return { verb, ok: false, output: `'${verb}' is only available through the SSH forced command (breakglass-pve), not the API token`, durationMs: 0 };
        return { verb, ok: true, output: JSON.stringify(data, null, 2).slice(0, 60_000), durationMs: Date.now() - started };
      } catch (error) {
        return { verb, ok: false, output: FishError.isInstance(error) ? error.message : describeError(error), durationMs: Date.now() - started };
      }
    },
  };
}
