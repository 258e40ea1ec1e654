import type { AuditStore } from '../contracts/audit-store.js';
import type { ChannelDecision, ChannelDecisionReply, DecisionSink, Notifier } from '../contracts/notifier.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { describeError } from '../errors.js';
import { redactSecrets } from '../util/redact.js';

/** What a decision channel needs from the loop: the engine's `decide` has this shape. */
export interface TokenDecider {
  decide(token: string, decision: 'approve' | 'deny', actor: string): Promise<{ ok: boolean; status: string; message: string; proposal?: { id: string } }>;
}

export interface DecisionChannelOptions {
  notifier: Notifier;
  decider: TokenDecider;
  audit: AuditStore;
  clock?: Clock;
  logger?: Logger;
  /** Ends listening. */
  signal: AbortSignal;
}

/**
 * Connects a notifier that carries decisions (`listen`) to the loop. Every decision goes through
 * the same signed-token check as the approval endpoint; refused ones (another chat, a forged,
 * replayed or expired token, a proposal already decided) are recorded as `decision-refused`
 * system events, change nothing, and the reason goes back to the channel.
 * Resolves at once when the notifier has no `listen` capability.
 */
export async function connectDecisionChannel(options: DecisionChannelOptions): Promise<void> {
  const { notifier, decider, audit } = options;
  if (!notifier.listen) return;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const at = () => new Date(clock.now()).toISOString();
  const recordRefusal = async (data: Record<string, unknown>) => {
    try {
      await audit.recordSystemEvent('decision-refused', data, at());
    } catch (error) {
      logger.error(`recording a refused decision failed: ${describeError(error)}`);
    }
  };
  const sink: DecisionSink = {
    async decide(request: ChannelDecision): Promise<ChannelDecisionReply> {
      try {
        const outcome = await decider.decide(request.token, request.decision, request.actor);
        if (!outcome.ok) {
          await recordRefusal({
            channel: request.channel,
            actor: request.actor,
            decision: request.decision,
            reason: outcome.status,
            detail: outcome.message,
            ...(outcome.proposal ? { proposalId: outcome.proposal.id } : {}),
          });
        }
        return { ok: outcome.ok, message: outcome.message };
      } catch (error) {
        const detail = redactSecrets(describeError(error));
        await recordRefusal({ channel: request.channel, actor: request.actor, decision: request.decision, reason: 'error', detail });
        return { ok: false, message: 'fish could not record this decision; nothing was run' };
      }
    },
    async refuse(refusal) {
      logger.warn(`${refusal.channel}: refused a decision from ${refusal.actor}: ${refusal.reason}`);
      await recordRefusal({ channel: refusal.channel, actor: refusal.actor, reason: refusal.reason, detail: redactSecrets(refusal.detail) });
    },
  };
  await notifier.listen(sink, options.signal);
}
