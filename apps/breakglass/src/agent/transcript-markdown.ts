import type { SessionEvent } from './events.js';

/** Fences `text` with more backticks than it contains, so no output can end the block early. */
function fence(text: string, info = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((match) => match[0].length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}${info}\n${text}\n${ticks}`;
}

/**
 * A session as Markdown, for the incident write-up: prompts, the agent's answers, every command
 * with who approved it and what it printed, and the LLM cost.
 */
export function transcriptMarkdown(title: string, events: readonly SessionEvent[]): string {
  const lines: string[] = [`# breakglass session: ${title.replace(/\n/g, ' ')}`, ''];
  let text = '';
  let cost = 0;
  const flushText = () => {
    if (text.trim().length > 0) lines.push(text.trim(), '');
    text = '';
  };
  for (const event of events) {
    if (event.type !== 'text') flushText();
    switch (event.type) {
      case 'prompt':
        lines.push(`## ${event.at} — ${event.actor}`, '', ...event.text.split('\n').map((line) => `> ${line}`), '');
        break;
      case 'text':
        text += event.text;
        break;
      case 'tool-call':
        lines.push(
          `**${event.toolName}** ${event.readOnly ? '(read-only)' : ''}`.trimEnd(),
          '',
          fence((event.argv ?? [JSON.stringify(event.input)]).map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' '), 'sh'),
          '',
        );
        break;
      case 'approval':
        lines.push(`*${event.decision === 'run' ? 'Approved' : 'Skipped'} by ${event.actor} at ${event.at}*`, '');
        break;
      case 'tool-result':
        lines.push(fence(event.output, 'text'), event.exitCode === undefined ? '' : `exit ${event.exitCode ?? 'killed'}`, '');
        break;
      case 'usage':
        cost += event.costEur;
        break;
      case 'error':
        lines.push(`> **Error:** ${event.message.replace(/\n/g, ' ')}`, '');
        break;
      case 'done':
        lines.push(`*— turn ended: ${event.reason} —*`, '');
        break;
      default:
        break;
    }
  }
  flushText();
  lines.push('---', `LLM cost of this session: €${cost.toFixed(4)}`, '');
  return lines.join('\n');
}
