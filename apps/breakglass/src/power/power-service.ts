import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FishError, FishErrorCode, type Logger, describeError, errorMessage, silentLogger } from '@fish-sre/core';
import { type PowerBackend, type PowerResult, isMutatingVerb, parsePowerVerb } from './verbs.js';

export interface PowerServiceOptions {
  backend: PowerBackend;
  /** Upper bound for one verb, forensics included: a wedged host never hangs the UI. */
  timeoutMs: number;
  /** JSON-lines record of every power action (who, what, result). */
  logFile?: string;
  logger?: Logger;
}

export interface PowerRunResult extends PowerResult {
  /** For mutating verbs: the forensics captured just before. */
  forensics?: PowerResult;
}

/**
 * The LLM-independent recovery path. Order of checks: allow-list (no I/O before it), confirm for
 * mutating verbs, one verb at a time, forensics before any state change, a hard timeout.
 */
export class PowerService {
  private busy = false;
  private readonly logger: Logger;

  constructor(private readonly options: PowerServiceOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  get backendKind(): string {
    return this.options.backend.kind;
  }

  async run(rawVerb: unknown, request: { confirm?: unknown; actor: string }): Promise<PowerRunResult> {
    const verb = parsePowerVerb(rawVerb);
    if (isMutatingVerb(verb) && request.confirm !== true) {
      throw new FishError({ code: FishErrorCode.VERB_NOT_ALLOWED, message: errorMessage('breakglass', `'${verb}' changes the VM's state: send {"confirm": true}`) });
    }
    if (this.busy) {
      throw new FishError({ code: FishErrorCode.STATE_TRANSITION_ILLEGAL, message: errorMessage('breakglass', 'another power action is in progress; wait for it to finish'), isRetryable: true });
    }
    this.busy = true;
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    try {
      let forensics: PowerResult | undefined;
      if (isMutatingVerb(verb)) {
        try {
          forensics = await this.options.backend.run('forensics', signal);
        } catch (error) {
          // Forensics must not block recovery: record the failure and go on.
          forensics = { verb: 'forensics', ok: false, output: describeError(error), durationMs: 0 };
        }
      }
      let result: PowerResult;
      try {
        result = await this.options.backend.run(verb, signal);
      } catch (error) {
        result = { verb, ok: false, output: FishError.isInstance(error) ? error.message : describeError(error), durationMs: 0 };
      }
      const full: PowerRunResult = { ...result, ...(forensics ? { forensics } : {}) };
      await this.record(request.actor, full);
      return full;
    } finally {
      this.busy = false;
    }
  }

  private async record(actor: string, result: PowerRunResult): Promise<void> {
    this.logger.info('power verb', { actor, verb: result.verb, ok: result.ok, durationMs: result.durationMs });
    if (!this.options.logFile) return;
    try {
      await mkdir(dirname(this.options.logFile), { recursive: true });
      await appendFile(this.options.logFile, `${JSON.stringify({ at: new Date().toISOString(), actor, ...result })}\n`);
    } catch (error) {
      this.logger.error('cannot write the power log', { error: describeError(error) });
    }
  }
}
