import type { ApprovalSigner, Decision } from '../../approval/approval-token.js';
import type { ProposalTransition } from '../../contracts/audit-store.js';
import type { ProposalRecord } from '../../contracts/records.js';
import { describeError } from '../../errors.js';
import type { StageContext } from './context.js';
import { EXPIRY_REASON, alreadyDecided, decisionAnswer, decisionUpdate, expiredUpdate, noSuchProposal, proposalExpiredAt } from './messages.js';
import type { NotificationStage } from './notifications.js';

/**
 * What became of a decision, as a domain result (an app maps it to its protocol: the approval
 * server to HTTP statuses). `invalid` says why in `reason`: a link this instance never signed
 * (`bad-signature`) or a damaged one (`malformed`).
 */
export type DecisionOutcome =
  | { ok: true; status: 'approved' | 'denied'; message: string; proposal: ProposalRecord }
  | { ok: false; status: 'invalid'; reason: 'bad-signature' | 'malformed'; message: string; proposal?: undefined }
  | { ok: false; status: 'expired' | 'not-found' | 'already-decided' | 'wrong-decision'; message: string; proposal?: ProposalRecord };

export interface DecisionOptions {
  signer: ApprovalSigner;
  /** Resolves once start()'s recovery is over (decisions wait for it), or undefined when none runs. */
  recovering: () => Promise<void> | undefined;
  /** Runs an approved proposal (the execution stage, handed in by the facade). */
  execute: (proposal: ProposalRecord) => Promise<void>;
}

/**
 * Human (and expiry) decisions on proposals: each is a compare-and-set from `proposed`, so a
 * replayed, forged, late or concurrent decision changes nothing and gets a clear answer.
 */
export class DecisionStage {
  constructor(
    private readonly context: StageContext,
    private readonly notifications: NotificationStage,
    private readonly options: DecisionOptions,
  ) {}

  /** A decision carried by a signed token: the token is checked before anything else. */
  async decide(token: string, decision: Decision, actor: string): Promise<DecisionOutcome> {
    const { audit, clock } = this.context;
    const check = this.options.signer.verify(token, decision, clock.now());
    if (!check.ok) {
      if (check.reason === 'expired' && check.claims) {
        const proposal = await audit.getProposal(check.claims.proposalId);
        if (proposal && proposal.status !== 'proposed') return this.alreadyDecided(proposal);
        // An old link expires only itself: the proposal expires on its own clock, not because a
        // stale (or short-lived terminal) token was presented.
        if (proposal && clock.now() >= Date.parse(proposal.expiresAt)) await this.expire(proposal);
        return { ok: false, status: 'expired', message: check.message, ...(proposal ? { proposal } : {}) };
      }
      if (check.reason === 'wrong-decision') return { ok: false, status: 'wrong-decision', message: check.message };
      return { ok: false, status: 'invalid', reason: check.reason === 'bad-signature' ? 'bad-signature' : 'malformed', message: check.message };
    }
    return this.decideProposal(check.claims.proposalId, decision, actor, check.claims.jti);
  }

  /** A decision from a trusted channel (the terminal), or after a token was checked. */
  async decideProposal(proposalId: string, decision: Decision, actor: string, tokenId?: string): Promise<DecisionOutcome> {
    const { audit, clock } = this.context;
    // The approval endpoint may already listen while start() recovers: an execution started now
    // would be found by recovery's scan and taken for one a crash interrupted.
    await this.options.recovering()?.catch(() => undefined);
    const proposal = await audit.getProposal(proposalId);
    if (!proposal) return { ok: false, status: 'not-found', message: noSuchProposal(proposalId) };
    if (proposal.status !== 'proposed') return this.alreadyDecided(proposal);
    if (clock.now() >= Date.parse(proposal.expiresAt)) {
      await this.expire(proposal);
      return { ok: false, status: 'expired', message: proposalExpiredAt(proposal), proposal };
    }
    const to = decision === 'approve' ? 'approved' : 'denied';
    const at = this.context.now();
    const updated = await this.recordDecision({ id: proposalId, from: 'proposed', to, at, actor, ...(tokenId ? { tokenId } : {}) });
    if (!updated) {
      const current = await audit.getProposal(proposalId);
      return this.alreadyDecided(current ?? proposal);
    }
    this.context.emit('decision', updated);
    this.notifications.updateLater(updated, to, decisionUpdate(to, updated, actor), actor);
    this.context.checkpoint('decision-recorded');
    if (to === 'approved') void this.context.tasks.track(this.options.execute(updated));
    return { ok: true, status: to, message: decisionAnswer(to, updated), proposal: updated };
  }

  /**
   * The compare-and-set of a decision. A store can fail after its commit (the answer lost with a
   * broken connection or a dying worker): the row is read back, and a decision that was recorded
   * is answered as recorded, never as an error. One that was not recorded rethrows: nothing is
   * answered "approved" unless the store has it.
   */
  private async recordDecision(transition: ProposalTransition): Promise<ProposalRecord | undefined> {
    try {
      return await this.context.audit.transitionProposal(transition);
    } catch (error) {
      const current = await this.context.audit.getProposal(transition.id).catch(() => undefined);
      if (current?.status === transition.to && current.decidedAt === transition.at && current.decidedBy === transition.actor) {
        this.context.logger.warn(`the decision on ${transition.id} was recorded although the store answered with an error (${describeError(error)})`);
        return current;
      }
      throw error;
    }
  }

  /** Expires every open proposal whose approval window has passed; returns how many. */
  async expireProposals(): Promise<number> {
    const open = await this.context.audit.listProposals({ status: 'proposed', limit: 1000 });
    let count = 0;
    for (const proposal of open) {
      if (Date.parse(proposal.expiresAt) <= this.context.clock.now()) {
        await this.expire(proposal);
        count++;
      }
    }
    return count;
  }

  private async expire(proposal: ProposalRecord): Promise<void> {
    const expired = await this.context.audit.transitionProposal({ id: proposal.id, from: 'proposed', to: 'expired', at: this.context.now(), actor: 'system', reason: EXPIRY_REASON });
    if (expired) this.notifications.updateLater(expired, 'expired', expiredUpdate(expired));
  }

  private alreadyDecided(proposal: ProposalRecord): DecisionOutcome {
    return { ok: false, status: proposal.status === 'expired' ? 'expired' : 'already-decided', message: alreadyDecided(proposal), proposal };
  }
}
