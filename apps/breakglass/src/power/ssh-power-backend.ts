import type { SshConnectionPool } from '@fish-sre/exec-ssh';
import { sshExec } from '../ssh/ssh-exec.js';
import { type PowerBackend, type PowerResult, type PowerVerb, parsePowerVerb } from './verbs.js';

export interface SshPowerBackendOptions {
  /** The pool holding the hypervisor target (a key bound to the forced command). */
  pool: SshConnectionPool;
  /** Target name in the pool. @default 'hypervisor' */
  target?: string;
  /** Per-verb timeout; the hypervisor script's own `cycle` waits for the stop. */
  timeoutMs: number;
  outputLimitBytes?: number;
}

/**
 * Power verbs over SSH to the hypervisor, where the key is bound to a forced command
 * (`deploy/breakglass-pve`). The client sends the bare verb as the command; sshd ignores it except
 * as `SSH_ORIGINAL_COMMAND`, which the host script matches against the same allow-list. Nothing
 * but an allow-listed verb ever leaves this process.
 */
export function createSshPowerBackend(options: SshPowerBackendOptions): PowerBackend {
  return {
    kind: 'ssh',
    async run(verb: PowerVerb, signal: AbortSignal): Promise<PowerResult> {
      const checked = parsePowerVerb(verb);
      const started = Date.now();
      const result = await sshExec(options.pool, options.target ?? 'hypervisor', checked, {
        timeoutMs: options.timeoutMs,
        outputLimitBytes: options.outputLimitBytes ?? 64 * 1024,
        signal,
      });
      const output = [result.stdout.trimEnd(), result.stderr.trimEnd()].filter((part) => part.length > 0).join('\n');
      const stateMatch = /^status:\s*(\w+)/m.exec(result.stdout);
      return {
        verb: checked,
        ok: result.exitCode === 0 && !result.timedOut,
        output: result.timedOut ? `${output}\n[breakglass: timed out after ${options.timeoutMs} ms]`.trim() : output || `(exit ${result.exitCode ?? result.signal})`,
        ...(stateMatch?.[1] ? { state: stateMatch[1] } : {}),
        durationMs: Date.now() - started,
      };
    },
  };
}
