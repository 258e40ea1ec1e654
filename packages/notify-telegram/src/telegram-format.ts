import type { NotifierMessage, ProposalActions, ProposalNotice, ProposalUpdate } from '@fish-sre/core';

/** Telegram counts at most 4096 characters (UTF-16 code units) of text after entity parsing. */
export const TELEGRAM_TEXT_LIMIT = 4096;

/** Escapes text for `parse_mode: HTML`: log lines are full of `<`, `>` and `&`. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A message built from pieces whose visible length is known: `html` is what is sent, `visible`
 * the character count Telegram checks after parsing. Long parts are shortened to fit.
 */
interface Piece {
  html: string;
  visible: number;
}

const text = (value: string): Piece => ({ html: escapeHtml(value), visible: value.length });
const tagged = (tag: string, value: string): Piece => ({ html: `<${tag}>${escapeHtml(value)}</${tag}>`, visible: value.length });
const link = (label: string, url: string): Piece => ({ html: `<a href="${escapeHtml(url)}">${escapeHtml(label)}</a>`, visible: label.length });

function join(pieces: Piece[]): Piece {
  return { html: pieces.map((piece) => piece.html).join(''), visible: pieces.reduce((sum, piece) => sum + piece.visible, 0) };
}

/** Cuts at a code point boundary, never inside a surrogate pair, and marks the cut. */
export function shorten(value: string, limit: number): string {
  if (value.length <= limit) return value;
  if (limit <= 1) return '';
  let end = limit - 1;
  const code = value.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return `${value.slice(0, end)}…`;
}

function fit(fixed: Piece[], flexible: Array<{ before: Piece; value: string; wrap?: string; after: Piece }>, limit: number): string {
  const fixedLength = join(fixed).visible + flexible.reduce((sum, part) => sum + part.before.visible + part.after.visible, 0);
  let room = Math.max(0, limit - fixedLength);
  const built: Piece[] = [];
  for (const part of flexible) {
    const value = shorten(part.value, room);
    room -= value.length;
    if (value.length === 0) continue;
    built.push(part.before, part.wrap ? tagged(part.wrap, value) : text(value), part.after);
  }
  const [head, ...rest] = fixed;
  return join([...(head ? [head] : []), ...built, ...rest]).html;
}

export function proposalHeader(notice: ProposalNotice, redact: (value: string) => string): Piece {
  const confidence = `${Math.round(notice.confidence * 100)}%`;
  return join([tagged('b', redact(`${notice.dryRun ? '[DRY RUN] ' : ''}🐟 ${notice.title}`)), text(redact(`\n${notice.host}/${notice.service} · ${notice.patternId} · confidence ${confidence}`))]);
}

/** The proposal: title, where, what the fix does, the evidence, when it expires, and the links. */
export function proposalHtml(notice: ProposalNotice, actions: ProposalActions, redact: (value: string) => string, limit = TELEGRAM_TEXT_LIMIT): string {
  const expires = `${notice.expiresAt.slice(0, 16).replace('T', ' ')} UTC`;
  const tail = join([
    text(`\n\n${notice.dryRun ? 'Dry run: nothing will be executed. ' : ''}Decide before ${expires}: `),
    link('Approve', actions.approveUrl),
    text(' · '),
    link('Deny', actions.denyUrl),
    text(' · '),
    link('Details', actions.viewUrl),
  ]);
  return fit(
    [proposalHeader(notice, redact), tail],
    [
      { before: text('\n\n'), value: redact(notice.summary), after: text('') },
      { before: text('\n\n'), value: notice.evidence.map((line) => redact(line)).join('\n'), wrap: 'pre', after: text('') },
    ],
    limit,
  );
}

const STATUS_LABEL: Record<ProposalUpdate['status'], string> = {
  approved: '✅ Approved',
  denied: '❌ Denied',
  expired: '⌛ Expired',
  succeeded: '✅ Fixed',
  failed: '⚠️ Fix failed',
  rolled_back: '↩️ Rolled back',
  escalated: '🚨 Escalated',
  interrupted: '🚨 Interrupted',
};

/** The proposal's message edited in place: its header, the new status, the details link. */
export function updateHtml(update: ProposalUpdate, header: Piece | undefined, viewUrl: string | undefined, redact: (value: string) => string, limit = TELEGRAM_TEXT_LIMIT): string {
  const head = header ?? tagged('b', `🐟 Proposal ${update.proposalId}`);
  const by = update.actor ? ` (${redact(update.actor)})` : '';
  const tail = viewUrl ? join([text('\n\n'), link('Details', viewUrl)]) : text('');
  return fit([head, tail], [{ before: join([text('\n\n'), tagged('b', `${STATUS_LABEL[update.status]}${by}`), text(': ')]), value: redact(update.detail), after: text('') }], limit);
}

export function messageHtml(message: NotifierMessage, redact: (value: string) => string, limit = TELEGRAM_TEXT_LIMIT): string {
  const icon = message.kind === 'escalation' ? '🚨 ' : message.kind === 'unknown-incident' ? '🔎 ' : message.kind === 'budget' ? '💶 ' : '';
  const tail = message.url ? join([text('\n\n'), link('Open', message.url)]) : text('');
  return fit([tagged('b', redact(`${icon}${message.title}`)), tail], [{ before: text('\n\n'), value: redact(message.body), after: text('') }], limit);
}
