import type { SshPool } from '@fish-sre/exec-ssh';
import { type InspectResult, type InspectVerb, type PowerBackend, type PowerResult, type PowerVerb, isInspectVerb, parsePowerVerb } from './verbs.js';
import { FishError, FishErrorCode, errorMessage } from '@fish-sre/core';

export interface SshPowerBackendOptions {
  /** The pool holding the hypervisor target (a key bound to the forced command). */
  pool: SshPool;
  /** Target name in the pool. @default 'hypervisor' */
  target?: string;
  /**
   * Upper bound for one call. For a mutating verb it must cover the host's forensics budget plus
   * the verb's own timeouts (shutdown + stop + start for `cycle`): the host enforces each of those.
   */
  timeoutMs: number;
  outputLimitBytes?: number;
}

/**
 * Power verbs and read-only views over SSH to the hypervisor, where the key is bound to a forced
 * command (`deploy/breakglass-pve`). The client sends the bare verb as the command; sshd ignores it
 * except as `SSH_ORIGINAL_COMMAND`, which the host script matches against the same allow-list.
 * Nothing but an allow-listed verb ever leaves this process.
 */
export function createSshPowerBackend(options: SshPowerBackendOptions): PowerBackend {
  const target = options.target ?? 'hypervisor';
  const call = async (verb: string, signal: AbortSignal) => {
    const started = Date.now();
    const result = await options.pool.run(
      target,
      { command: verb },
      { timeoutMs: options.timeoutMs, outputLimitBytes: options.outputLimitBytes ?? 64 * 1024, signal, killGraceMs: 2000, closeAfterKillMs: 1000 },
    );
    const output = [result.stdout.trimEnd(), result.stderr.trimEnd()].filter((part) => part.length > 0).join('\n');
    const note = result.timedOut ? `\n[breakglass: timed out after ${options.timeoutMs} ms]` : result.cancelled ? '\n[breakglass: cancelled]' : '';
    return {
      result,
      output: `${output}${note}`.trim() || `(exit ${result.exitCode ?? result.signal})`,
      ok: result.exitCode === 0 && !result.timedOut && !result.cancelled,
      durationMs: Date.now() - started,
    };
  };
  return {
    kind: 'ssh',
    capturesForensics: true,
    async run(verb: PowerVerb, signal: AbortSignal): Promise<PowerResult> {
      const checked = parsePowerVerb(verb);
      const { result, output, ok, durationMs } = await call(checked, signal);
      const states = [...result.stdout.matchAll(/^status:\s*(\w+)/gm)];
      const state = states.at(-1)?.[1];
      return { verb: checked, ok, output, ...(state ? { state } : {}), durationMs };
    },
    async inspect(verb: InspectVerb, signal: AbortSignal): Promise<InspectResult> {
      if (!isInspectVerb(verb)) throw new FishError({ code: FishErrorCode.VERB_NOT_ALLOWED, message: errorMessage('breakglass', 'not a hypervisor view') });
      const { output, ok, durationMs } = await call(verb, signal);
      return { verb, ok, output, durationMs };
    },
  };
}
