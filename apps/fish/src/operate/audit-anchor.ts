import { describeError, type AuditStore, type Logger, type Notifier } from '@fish-sre/core';

interface ChainReport {
  ok: boolean;
  rows: number;
  problem?: string;
  headHash: string;
  headSeq?: number;
}

export interface AuditAnchorOptions {
  audit: AuditStore;
  notifier: Notifier;
  logger: Logger;
  /** How often the head is sent (e.g. once a day). */
  everyMs: number;
}

/**
 * Sends the audit chain's head (`seq:hash`) off the machine through the notifier, every
 * `everyMs`: a message kept on the phone (or in a chat) lets `fish-sre audit verify --expect-head`
 * prove later that nothing up to it was deleted or rewritten, even by someone who can write the
 * database and rebuild the chain. A broken chain is sent as such, with priority. The message goes
 * straight to the notifier: recording it would move the head it carries.
 */
export function startAuditAnchor(options: AuditAnchorOptions): { stop(): void; sendNow(): Promise<void> } {
  const verify = (options.audit as { verifyChain?: () => Promise<ChainReport> }).verifyChain;
  const sendNow = async (): Promise<void> => {
    if (!verify) return;
    try {
      const report = await verify.call(options.audit);
      const head = `${report.headSeq ?? report.rows}:${report.headHash}`;
      await options.notifier.notify(
        report.ok
          ? {
              kind: 'info',
              title: 'fish: audit head',
              body: `Audit chain OK, ${report.rows} rows. Head ${head}\n\nKeep this message: \`fish-sre audit verify --expect-head ${head}\` later proves that nothing recorded up to it was deleted or rewritten.`,
              priority: 'low',
              tags: ['lock'],
            }
          : { kind: 'escalation', title: 'fish: audit chain BROKEN', body: `fish-sre audit verify: ${report.problem ?? 'the chain does not verify'}`, priority: 'urgent', tags: ['warning'] },
      );
    } catch (error) {
      options.logger.warn(`could not send the audit head: ${describeError(error)}`);
    }
  };
  const timer = verify ? setInterval(() => void sendNow(), options.everyMs) : undefined;
  timer?.unref();
  if (!verify) options.logger.warn(`auditAnchor is set but the "${options.audit.name}" audit store keeps no hash chain: no head is sent`);
  return { stop: () => clearInterval(timer), sendNow };
}
