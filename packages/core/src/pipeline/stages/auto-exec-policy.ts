import type { Pattern } from '../../catalog/catalog-schema.js';
import type { AuditStore } from '../../contracts/audit-store.js';
import { autoExecReason } from './messages.js';

/** Whether a proposal may run without a human decision, and why (recorded as the approval reason). */
export type AutoExecVerdict = { autoExec: false } | { autoExec: true; reason: string };

/**
 * Decides whether a pattern has earned running without a human decision. Its own unit so the
 * promotion rules can change (or be replaced by an embedder) without touching routing.
 */
export interface AutoExecPolicy {
  evaluate(pattern: Pattern): Promise<AutoExecVerdict>;
}

export interface AutoExecPolicyOptions {
  /** Auto-exec is off unless the operator turned it on. */
  enabled: boolean;
  audit: AuditStore;
}

/**
 * The default rule: with auto-exec on, a pattern that sets `promote_to_autoexec_after: N` runs by
 * itself once N real (not dry-run) executions of it have succeeded.
 */
export function createAutoExecPolicy(options: AutoExecPolicyOptions): AutoExecPolicy {
  return {
    async evaluate(pattern) {
      const threshold = pattern.promote_to_autoexec_after;
      if (!options.enabled || threshold === null) return { autoExec: false };
      const executions = await options.audit.listExecutions({ status: 'succeeded', limit: 1000 });
      const successes = executions.filter((execution) => execution.patternId === pattern.id && !execution.dryRun).length;
      return successes >= threshold ? { autoExec: true, reason: autoExecReason(successes, threshold) } : { autoExec: false };
    },
  };
}
