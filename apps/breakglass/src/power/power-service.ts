import { FishError, FishErrorCode, type Logger, describeError, errorMessage, silentLogger } from '@fish-sre/core';
import type { Trail } from '../trail/trail.js';
import { type PowerBackend, type PowerResult, isMutatingVerb, parsePowerVerb } from './verbs.js';

export interface PowerServiceOptions {
  backend: PowerBackend;
  /** Upper bound for the verb itself (forensics have their own budget, taken before it starts). */
  timeoutMs: number;
  /** Upper bound for the forensics taken before a mutating verb: they never eat the verb's time. @default 20000 */
  forensicsTimeoutMs?: number;
  /** The append-only trail every power action is recorded in. */
  trail?: Trail;
  logger?: Logger;
}

export interface PowerRunResult extends PowerResult {
  /** For mutating verbs on a backend that does not capture them itself: the forensics taken just before. */
  forensics?: PowerResult;
}

/**
 * The LLM-independent recovery path. Order of checks: allow-list (no I/O before it), confirm for
 * mutating verbs, one verb at a time, forensics before any state change (within their own short
 * budget), then the verb within its own timeout.
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

  get backend(): PowerBackend {
    return this.options.backend;
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
    try {
      let forensics: PowerResult | undefined;
      if (isMutatingVerb(verb) && !this.options.backend.capturesForensics) {
        try {
          forensics = await this.options.backend.run('forensics', AbortSignal.timeout(this.options.forensicsTimeoutMs ?? 20_000));
        } catch (error) {
          // Forensics must not block recovery: record the failure and go on.
          forensics = { verb: 'forensics', ok: false, output: describeError(error), durationMs: 0 };
        }
      }
      // The verb's clock starts now, whatever the forensics took.
      const signal = AbortSignal.timeout(this.options.timeoutMs + (this.options.backend.capturesForensics && isMutatingVerb(verb) ? (this.options.forensicsTimeoutMs ?? 20_000) : 0));
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
    if (result.verb === 'status') return;
    try {
      await this.options.trail?.append('power', actor, { verb: result.verb, ok: result.ok, state: result.state ?? null, durationMs: result.durationMs, output: result.output.slice(0, 2000) });
    } catch (error) {
      this.logger.error('cannot write the trail', { error: describeError(error) });
    }
  }
}
