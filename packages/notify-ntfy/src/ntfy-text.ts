// ntfy message text: priorities, status labels, sequence ids and fitting a message into the byte budget.
import { createHash } from 'node:crypto';
import { truncateUtf8, type NotificationPriority, type NotifierMessage, type ProposalUpdateStatus } from '@fish-sre/core';

export const TOPIC = /^[-_A-Za-z0-9]{1,64}$/;

export const PRIORITY: Record<NotificationPriority, number> = { min: 1, low: 2, default: 3, high: 4, urgent: 5 };

export const STATUS_TEXT: Record<ProposalUpdateStatus, { label: string; tag: string; priority: NotificationPriority }> = {
  approved: { label: 'Approved', tag: 'white_check_mark', priority: 'default' },
  denied: { label: 'Denied', tag: 'no_entry_sign', priority: 'low' },
  expired: { label: 'Expired', tag: 'hourglass', priority: 'low' },
  succeeded: { label: 'Fixed', tag: 'heavy_check_mark', priority: 'default' },
  failed: { label: 'Fix failed', tag: 'x', priority: 'high' },
  rolled_back: { label: 'Rolled back', tag: 'leftwards_arrow_with_hook', priority: 'high' },
  escalated: { label: 'Escalated', tag: 'rotating_light', priority: 'urgent' },
  interrupted: { label: 'Interrupted', tag: 'warning', priority: 'high' },
};

export const KIND_TAGS: Record<NotifierMessage['kind'], string> = {
  escalation: 'rotating_light',
  'unknown-incident': 'grey_question',
  budget: 'moneybag',
  info: 'information_source',
};

/** A sequence id ntfy accepts (`[-_A-Za-z0-9]{1,64}`) derived from a proposal id, collision-free. */
export function sequenceIdFor(proposalId: string): string {
  const direct = `fish-${proposalId}`;
  if (TOPIC.test(direct)) return direct;
  return `fish-${createHash('sha256').update(proposalId, 'utf8').digest('hex').slice(0, 40)}`;
}

export function parseVersion(text: string): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  return match === null ? undefined : [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Where the message budget goes: the important parts first, evidence shortened before anything else. */
export function fitMarkdown(parts: { head: string; summary: string; evidence: string[]; tail: string }, maxBytes: number): string {
  const fence = (lines: string[]) => (lines.length === 0 ? '' : `\n\n**Evidence**\n~~~\n${lines.join('\n')}\n~~~`);
  const compose = (summary: string, evidence: string[]) => `${parts.head}\n\n${summary}${fence(evidence)}${parts.tail}`;
  const safeEvidence = parts.evidence.map((line) => line.replace(/~~~/g, '~ ~ ~'));
  let text = compose(parts.summary, safeEvidence);
  if (Buffer.byteLength(text) <= maxBytes) return text;
  // 1. fewer, shorter evidence lines
  const evidence = safeEvidence.slice(0, 5).map((line) => (line.length > 200 ? `${truncateUtf8(line, 200)}…` : line));
  if (evidence.length < safeEvidence.length) evidence.push(`… ${safeEvidence.length - evidence.length} more line(s) on the details page`);
  text = compose(parts.summary, evidence);
  if (Buffer.byteLength(text) <= maxBytes) return text;
  // 2. a shorter summary
  const note = '\n\n_(shortened: open Details for the full text)_';
  const room = maxBytes - Buffer.byteLength(compose('', evidence)) - Buffer.byteLength(note) - 3;
  if (room > 200) return compose(`${truncateUtf8(parts.summary, room)}…${note}`, evidence);
  // 3. no evidence, then a hard cut
  const bare = maxBytes - Buffer.byteLength(compose('', [])) - Buffer.byteLength(note) - 3;
  if (bare > 0) return compose(`${truncateUtf8(parts.summary, bare)}…${note}`, []);
  return truncateUtf8(compose('', []), maxBytes);
}

export function fitPlain(body: string, maxBytes: number): string {
  if (Buffer.byteLength(body) <= maxBytes) return body;
  const note = '\n\n_(shortened)_';
  return `${truncateUtf8(body, maxBytes - Buffer.byteLength(note) - 3)}…${note}`;
}
