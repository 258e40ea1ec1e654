import { randomUUID } from 'node:crypto';
import type { NotificationReceipt, Notifier, NotifierMessage, ProposalActions, ProposalNotice, ProposalUpdate } from '../contracts/notifier.js';
import { redactSecrets } from '../util/redact.js';

export interface TerminalNotifierOptions {
  /** Where to write. @default process.stdout */
  write?: (text: string) => void;
  /** Use ANSI colours. @default true when writing to a TTY */
  color?: boolean;
}

/**
 * Prints proposals and messages to the terminal: the demo's notifier, and the reference
 * Notifier. The Approve/Deny links it prints go to the local approval page.
 */
export function createTerminalNotifier(options: TerminalNotifierOptions = {}): Notifier {
  const rawWrite = options.write ?? ((text: string) => process.stdout.write(text));
  // Everything printed passes the redactor: titles and summaries can quote log text.
  const write = (text: string) => rawWrite(redactSecrets(text));
  const color = options.color ?? (options.write === undefined && process.stdout.isTTY === true);
  const paint = (code: string, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const receipt = (): NotificationReceipt => ({ id: randomUUID(), channel: 'terminal' });
  return {
    specificationVersion: 'v1',
    name: 'terminal',
    async propose(notice: ProposalNotice, actions: ProposalActions) {
      write(
        [
          '',
          paint('1;33', `▶ PROPOSAL ${notice.proposalId}: ${notice.title}`),
          `  host ${notice.host}, service ${notice.service}, pattern ${notice.patternId}, confidence ${(notice.confidence * 100).toFixed(0)}%${notice.dryRun ? ' (dry run)' : ''}`,
          ...notice.summary.split('\n').map((line) => `  ${redactSecrets(line)}`),
          '  evidence:',
          ...notice.evidence.map((line) => `    ${redactSecrets(line)}`),
          `  approve: ${paint('32', actions.approveUrl)}`,
          `  deny:    ${paint('31', actions.denyUrl)}`,
          `  view:    ${actions.viewUrl}`,
          `  expires: ${notice.expiresAt}`,
          '',
        ].join('\n') + '\n',
      );
      return receipt();
    },
    async update(update: ProposalUpdate) {
      write(`${paint('1;36', `● ${update.proposalId} ${update.status}`)}\n  ${update.detail}\n`);
      return receipt();
    },
    async notify(message: NotifierMessage) {
      const tone = message.priority === 'urgent' || message.priority === 'high' ? '1;31' : '1;34';
      write(
        `\n${paint(tone, `■ ${message.kind.toUpperCase()}: ${redactSecrets(message.title)}`)}\n${redactSecrets(message.body)
          .split('\n')
          .map((line) => `  ${line}`)
          .join('\n')}\n`,
      );
      return receipt();
    },
  };
}
