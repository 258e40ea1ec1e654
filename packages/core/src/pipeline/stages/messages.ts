import type { Pattern } from '../../catalog/catalog-schema.js';
import type { ExecutionStep, IncidentRecord, ProposalRecord } from '../../contracts/records.js';
import type { NotifierMessage, ProposalUpdateStatus } from '../../contracts/notifier.js';
import { formatDuration } from '../../util/duration.js';

/**
 * Every sentence fish says to a human (phone notifications, approval answers, audit details), in
 * one place: wording changes here, and translations or a different tone have one file to edit.
 */

/** A fenced block of evidence lines, with fences inside the text defused. */
export function codeBlock(lines: string[]): string {
  return lines.length === 0 ? '' : `\`\`\`\n${lines.join('\n').replace(/```/g, "'''")}\n\`\`\``;
}

/** How a step ended, for a human. */
export function describeStep(step: ExecutionStep): string {
  if (step.timedOut) return `timed out after ${Math.round(step.durationMs)} ms`;
  if (step.exitCode === null) return `could not run: ${step.stderr.split('\n')[0] ?? ''}`;
  return `exited with code ${step.exitCode}`;
}

/**
 * What a proposal notification says will happen. `unattended`: the fix runs by itself `windowMs`
 * after the message unless denied (an auto-exec announcement). `approval`: it runs only once
 * approved; `withdrawn` says why a proposal that had earned auto-exec does not run by itself.
 */
export type ProposalAnnouncement = { mode: 'unattended'; windowMs: number } | { mode: 'approval'; withdrawn?: string };

/** The body of a proposal notification. */
export function proposalSummary(pattern: Pattern, proposal: ProposalRecord, announcement: ProposalAnnouncement = { mode: 'approval' }): string {
  const fix = pattern.fix!;
  const what =
    announcement.mode === 'unattended'
      ? `\n\n**Runs by itself** (earned auto-exec) ${formatDuration(announcement.windowMs)} after this message unless you tap Deny.`
      : announcement.withdrawn !== undefined
        ? `\n\n**Needs your approval**: it does not run by itself (${announcement.withdrawn}). Tap Approve to run it, or Deny.`
        : '';
  return `${pattern.description.trim() || pattern.title}\n\nFix: \`${fix.script}\` on ${proposal.targetHost}${pattern.verify ? `, verified by \`${pattern.verify.script}\`` : ''}. On failure: ${pattern.on_failure}.${what}${proposal.dryRun ? '\n\n**Dry run**: nothing will be executed.' : ''}`;
}

/** Why an auto-exec proposal waits for a human after all (shown in its approval request, and recorded). */
export const AUTO_EXEC_WITHDRAWN = {
  notDelivered: (windowMs: number) => `its announcement could not be delivered within the ${formatDuration(windowMs)} Deny window`,
  restart: 'fish stopped before its announcement was delivered',
  noLongerEarned: 'auto-exec is no longer earned or no longer enabled',
} as const;

/** A known incident with no safe automatic fix. */
export function diagnosisOnly(pattern: Pattern, incident: IncidentRecord): NotifierMessage {
  return {
    kind: 'escalation',
    title: `${pattern.title} on ${incident.host}`,
    body: `**${pattern.title}** (${pattern.id}) on ${incident.host}/${incident.service}. No safe automatic fix exists.\n\n${pattern.diagnosis ?? ''}\n\nEvidence:\n${codeBlock(incident.evidence.slice(-5))}`,
    priority: pattern.severity === 'critical' ? 'urgent' : 'high',
    tags: ['warning', pattern.id],
  };
}

/** A fix whose target host is not one the executor knows. */
export function noFixTarget(pattern: Pattern, incident: IncidentRecord): NotifierMessage {
  return {
    kind: 'escalation',
    title: `${pattern.title} on ${incident.host}: no fix target`,
    body: `Pattern ${pattern.id} matched on ${incident.host}, but its target "${pattern.target_host}" is not a configured executor target, so nothing can be proposed. Add the host to the executor's targets.`,
    priority: 'high',
    tags: ['warning'],
  };
}

/** Where an UNKNOWN bundle went, when nothing stores bundles. */
export const BUNDLE_NOT_STORED = 'not written (no incidents folder configured)';

/** An UNKNOWN bundle that could not be stored. */
export function bundleNotWritten(reason: string): string {
  return `not written (${reason})`;
}

/** Appended to the bundle location when a draft pattern was stored beside it. */
export function draftStored(location: string, valid: boolean): string {
  return ` (draft pattern for review: ${location}${valid ? '' : ', with problems noted in it'})`;
}

/** Severe events no pattern explains. */
export function unknownIncident(incident: IncidentRecord, llmHint: string | undefined, bundleLocation: string): NotifierMessage {
  return {
    kind: 'unknown-incident',
    title: `UNKNOWN on ${incident.host}/${incident.service}`,
    body: `No catalog pattern explains ${incident.evidence.length} severe event(s) on ${incident.host}/${incident.service}.${llmHint ? ` The LLM thinks it resembles ${llmHint} (advisory only).` : ''}\n\nBundle: ${bundleLocation}\n\n${codeBlock(incident.evidence.slice(-3))}`,
    priority: 'low',
    tags: ['mag'],
  };
}

/** A fix that needs a human after all. */
export function escalation(proposal: ProposalRecord, body: string): NotifierMessage {
  return { kind: 'escalation', title: `Escalation: ${proposal.patternId} on ${proposal.targetHost}`, body, priority: 'high', tags: ['rotating_light'] };
}

/** The plain message sent as an update by a notifier that cannot edit its proposal. */
export function updateFallback(proposal: ProposalRecord, status: ProposalUpdateStatus, detail: string): NotifierMessage {
  return { kind: 'info', title: updateTitle(proposal, status), body: detail, priority: status === 'escalated' || status === 'interrupted' ? 'high' : 'default' };
}

/** Says which notifiers failed before `channel` delivered it: `delivered via telegram after ntfy failed 5×`. */
export function failoverNote(channel: string, failures: Readonly<Record<string, number>>): string | undefined {
  const failed = Object.entries(failures).filter(([name, count]) => name !== channel && count > 0);
  if (failed.length === 0) return undefined;
  return `delivered via ${channel} after ${failed.map(([name, count]) => `${name} failed ${count}×`).join(', ')}`;
}

/** A message with the failover note at its end. */
export function withFailoverNote(message: NotifierMessage, note: string | undefined): NotifierMessage {
  return note === undefined ? message : { ...message, body: `${message.body}\n\n_(${note})_` };
}

/** The title an update is recorded under. */
export function updateTitle(proposal: ProposalRecord, status: ProposalUpdateStatus): string {
  return `${proposal.patternId}: ${status}`;
}

// ------------------------------------------------------------------ decisions

export function decisionUpdate(decision: 'approved' | 'denied', proposal: ProposalRecord, actor: string): string {
  return decision === 'approved' ? `Approved by ${actor}; running ${proposal.patternId} on ${proposal.targetHost}` : `Denied by ${actor}; nothing will run`;
}

export function decisionAnswer(decision: 'approved' | 'denied', proposal: ProposalRecord): string {
  return decision === 'approved' ? `approved: the fix runs on ${proposal.targetHost} now` : 'denied: nothing will run';
}

export function alreadyDecided(proposal: ProposalRecord): string {
  if (proposal.status === 'expired') return `this proposal expired at ${proposal.expiresAt}; nothing was run`;
  const at = proposal.decidedAt ? new Date(proposal.decidedAt).toISOString().slice(11, 16) : undefined;
  return `already ${proposal.status}${at ? ` at ${at} UTC` : ''}${proposal.decidedBy ? ` by ${proposal.decidedBy}` : ''}`;
}

export function noSuchProposal(proposalId: string): string {
  return `no proposal ${proposalId}`;
}

export function proposalExpiredAt(proposal: ProposalRecord): string {
  return `proposal ${proposal.id} expired at ${proposal.expiresAt}`;
}

export function expiredUpdate(proposal: ProposalRecord): string {
  return `${proposal.patternId} on ${proposal.targetHost}: not approved in time; nothing was run`;
}

export const EXPIRY_REASON = 'approval window elapsed';

export function autoExecReason(successes: number, threshold: number): string {
  return `${successes} verified successes >= ${threshold}`;
}

// ------------------------------------------------------------------ execution

export function patternGone(patternId: string): { detail: string; escalation: string } {
  return {
    detail: `pattern ${patternId} is no longer in the catalog (or has no fix); nothing was run`,
    escalation: `Pattern ${patternId} disappeared from the catalog after approval; nothing was run.`,
  };
}

export function fixChanged(patternId: string, change: string): { detail: string; escalation: string } {
  return {
    detail: `the ${patternId} fix changed after it was shown (${change}); nothing was run`,
    escalation: `The ${patternId} fix changed in the catalog after it was shown and approved (${change}). Nothing was run: look at the change, and approve the new proposal when the incident comes back.`,
  };
}

/** An approval found at restart with nothing started, older than the resume window. */
export function approvedTooLongAgo(proposal: ProposalRecord, ageMs: number, windowMs: number): { detail: string; escalation: string } {
  const age = formatDuration(Math.round(ageMs / 1000) * 1000);
  return {
    detail: `expired-after-restart: approved ${age} ago, longer than the ${formatDuration(windowMs)} a restart may still act on; nothing was run`,
    escalation: `The ${proposal.patternId} fix on ${proposal.targetHost} was approved ${age} ago but fish stopped before running it. It was NOT run now (approvals older than ${formatDuration(windowMs)} are not acted on after a restart): check the host, and approve the next proposal if the problem is still there.`,
  };
}

/** An unattended run whose Deny window a restart cut: announced again, or too late to run by itself. */
export function autoExecAfterRestart(proposal: ProposalRecord, windowMs: number, lateMs: number, resumeWindowMs: number): { reannounced: string; expired: string; escalation: string } {
  const late = formatDuration(Math.max(0, Math.round(lateMs / 1000)) * 1000);
  return {
    reannounced: `re-announced after restart: the ${formatDuration(windowMs)} Deny window announced at ${proposal.createdAt} was cut by the restart; a fresh ${formatDuration(windowMs)} window starts now`,
    expired: `auto-exec-expired-after-restart: its Deny window ended ${late} before this restart, longer than the ${formatDuration(resumeWindowMs)} a restart may still act on; nothing was run`,
    escalation: `The ${proposal.patternId} fix on ${proposal.targetHost} was announced to run by itself, but fish stopped before its Deny window ended, ${late} ago. It was NOT run (older than ${formatDuration(resumeWindowMs)}): check the host, and approve the next proposal if the problem is still there.`,
  };
}

export function dryRunOutput(verb: string, patternId: string, script: string, host: string): string {
  return `[dry run] would run ${verb} ${patternId} ${script} on ${host}`;
}

export function fixVerified(pattern: Pattern, proposal: ProposalRecord): string {
  return `${pattern.title}: fixed on ${proposal.targetHost} and verified${proposal.dryRun ? ' (dry run)' : ''}`;
}

export function fixApplied(pattern: Pattern, proposal: ProposalRecord): string {
  return `${pattern.title}: fix applied on ${proposal.targetHost}`;
}

export function rolledBack(pattern: Pattern, proposal: ProposalRecord): string {
  return `${pattern.title}: the fix failed on ${proposal.targetHost} and was rolled back`;
}

export function rollbackFailed(pattern: Pattern, proposal: ProposalRecord): string {
  return `${pattern.title}: the fix failed on ${proposal.targetHost} and so did the rollback. A human must look.`;
}

export function fixFailed(pattern: Pattern, proposal: ProposalRecord): string {
  return `${pattern.title}: the fix failed on ${proposal.targetHost}. ${pattern.diagnosis ?? 'A human must look.'}`;
}

/** Audit details of execution transitions. */
export const STEP_DETAIL = {
  verified: 'fix applied and verified',
  appliedNoVerify: 'fix applied (no verify step)',
  rolledBack: 'fix failed; rolled back',
  escalated: 'fix failed; escalated to a human',
  verifyFailed: (step: ExecutionStep) => `verify ${describeStep(step)}`,
  fixFailed: (step: ExecutionStep) => `fix ${describeStep(step)}`,
  rollbackFailed: (step: ExecutionStep) => `rollback ${describeStep(step)}`,
} as const;

// ------------------------------------------------------------------ recovery

export function interruptedDetail(status: string): string {
  return `fish stopped during "${status}"; not re-run automatically`;
}

export function interruptedEscalation(patternId: string, host: string, previousStatus: string): string {
  const when = previousStatus === 'interrupted' ? 'during an earlier restart' : `while it was ${previousStatus}`;
  return `The ${patternId} fix on ${host} was interrupted (fish stopped ${when}). It was NOT re-run: check the host and decide.`;
}
