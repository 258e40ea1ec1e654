import { autoExecAllowed } from '../../catalog/catalog-lint.js';
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
  /** `targetHost`: where the fix would run; promotion is earned per (pattern, host). */
  evaluate(pattern: Pattern, targetHost?: string): Promise<AutoExecVerdict>;
}

export interface AutoExecPolicyOptions {
  /** Auto-exec is off unless the operator turned it on. */
  enabled: boolean;
  audit: AuditStore;
}

/** Execution outcomes that end a streak: anything finished that was not a verified success. */
const FINISHED = ['succeeded', 'failed', 'rolled_back', 'escalated', 'interrupted'] as const;

/**
 * The default rule: with auto-exec on, a pattern that sets `promote_to_autoexec_after: N` runs by
 * itself once its N most recent real (not dry-run) executions on that host all succeeded and were
 * verified: any failure, rollback, escalation or interruption resets the count. A pattern with a
 * log signal that is not scoped to a service, host, level or label never runs by itself (any
 * application could log the text it matches).
 */
export function createAutoExecPolicy(options: AutoExecPolicyOptions): AutoExecPolicy {
  return {
    async evaluate(pattern, targetHost) {
      const threshold = pattern.promote_to_autoexec_after;
      if (!options.enabled || threshold === null || !autoExecAllowed(pattern)) return { autoExec: false };
      const finished = await options.audit.listExecutions({ status: FINISHED, limit: 1000 });
      const relevant = finished
        .filter((execution) => execution.patternId === pattern.id && !execution.dryRun && (targetHost === undefined || execution.targetHost === targetHost))
        .sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt));
      let streak = 0;
      for (const execution of relevant) {
        if (execution.status !== 'succeeded') break;
        streak++;
        if (streak >= threshold) break;
      }
      if (streak < threshold) return { autoExec: false };
      return { autoExec: true, reason: `${autoExecReason(streak, threshold)} (consecutive${targetHost ? ` on ${targetHost}` : ''}; a failure, rollback or escalation resets the count)` };
    },
  };
}
