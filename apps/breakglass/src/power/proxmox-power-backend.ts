import { FishError, describeError } from '@fish-sre/core';
import { ProxmoxClient, type ProxmoxClientOptions } from './proxmox-client.js';
import { type PowerBackend, type PowerResult, type PowerVerb, parsePowerVerb } from './verbs.js';

export interface ProxmoxPowerBackendOptions extends ProxmoxClientOptions {
  node: string;
  vmid: number;
  /** Task polling interval. @default 500 */
  pollMs?: number;
}

/**
 * Power verbs through the Proxmox VE API with a `VM.PowerMgmt` token. Every mutating call returns
 * a UPID and is polled to its end; `cycle` is stop (waited for) then start.
 */
export function createProxmoxPowerBackend(options: ProxmoxPowerBackendOptions): PowerBackend {
  const client = new ProxmoxClient(options);
  const { node, vmid } = options;
  const pollMs = options.pollMs ?? 500;

  const act = async (action: 'start' | 'stop' | 'reset', signal: AbortSignal, log: string[]) => {
    const upid = await client.powerAction(node, vmid, action, signal);
    log.push(`${action}: task ${upid}`);
    const done = await client.waitForTask(node, upid, signal, pollMs);
    log.push(`${action}: ${done.exitstatus ?? 'OK'}`);
  };

  return {
    kind: 'proxmox-api',
    async run(verb: PowerVerb, signal: AbortSignal): Promise<PowerResult> {
      const checked = parsePowerVerb(verb);
      const started = Date.now();
      const log: string[] = [];
      try {
        switch (checked) {
          case 'status': {
            const status = await client.vmStatus(node, vmid, signal);
            return { verb: checked, ok: true, state: status.status, output: `status: ${status.status}${status.qmpstatus ? ` (qmp: ${status.qmpstatus})` : ''}${status.uptime !== undefined ? `, uptime ${status.uptime}s` : ''}`, durationMs: Date.now() - started };
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
          case 'cycle': {
            const before = await client.vmStatus(node, vmid, signal);
            if (before.status === 'running') await act('stop', signal, log);
            else log.push(`stop: skipped, VM was ${before.status}`);
            await act('start', signal, log);
            break;
          }
          case 'reset':
          case 'stop':
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
  };
}
