import type { AuditStore, LLMProvider, Notifier } from '@fish-sre/core';
import type { FishMetrics } from './metrics.js';

/**
 * A view of `target` with some members replaced; every other member (also ones beyond the
 * contract, e.g. a webhook address) is the target's own, called on the target itself.
 */
function decorate<T extends object>(target: T, overrides: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(object, key) {
      if (Object.prototype.hasOwnProperty.call(overrides, key)) return (overrides as Record<PropertyKey, unknown>)[key];
      const value = Reflect.get(object, key, object) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}

/**
 * Every AuditStore member that writes: each is timed in `fish_audit_write_duration_seconds` and
 * its failures counted, by operation. The optional ones (coordination, absence state) only when
 * the store has them.
 */
export const AUDIT_WRITES = [
  'insertIncident',
  'insertProposal',
  'setProposalNotification',
  'transitionProposal',
  'insertExecution',
  'transitionExecution',
  'recordNotification',
  'enqueueOutbox',
  'claimOutbox',
  'settleOutbox',
  'reserveBudget',
  'settleBudget',
  'recordSystemEvent',
  'renewExecutionLease',
  'acquireHostLock',
  'releaseHostLock',
  'claimIncident',
  'saveAbsenceStreams',
] as const;

/**
 * Wraps an AuditStore so each write is timed and each failure counted. The wrapper is a plain
 * object with the same members: the store's own behaviour (and its errors) are unchanged, and a
 * member the store lacks stays absent.
 */
export function instrumentAudit(audit: AuditStore, metrics: FishMetrics): AuditStore {
  const overrides: Record<string, unknown> = {};
  for (const operation of AUDIT_WRITES) {
    const member = (audit as unknown as Record<string, ((...args: unknown[]) => Promise<unknown>) | undefined>)[operation];
    if (typeof member !== 'function') continue;
    const original = member.bind(audit);
    overrides[operation] = async (...args: unknown[]) => {
      const stop = metrics.auditWriteDuration.startTimer({ operation });
      try {
        return await original(...args);
      } catch (error) {
        metrics.auditWriteFailures.inc({ operation });
        throw error;
      } finally {
        stop();
      }
    };
  }
  return decorate(audit, overrides as Partial<Record<keyof AuditStore, unknown>>);
}

/** Counts what a notifier delivered and what failed, by kind; everything else passes through. */
export function instrumentNotifier(notifier: Notifier, metrics: FishMetrics): Notifier {
  const count = async <T>(kind: string, send: () => Promise<T>): Promise<T> => {
    try {
      const result = await send();
      metrics.notificationsSent.inc({ notifier: notifier.name, kind });
      return result;
    } catch (error) {
      metrics.notificationFailures.inc({ notifier: notifier.name, kind });
      throw error;
    }
  };
  return decorate(notifier, {
    propose: (notice: Parameters<Notifier['propose']>[0], actions: Parameters<Notifier['propose']>[1]) => count('proposal', () => notifier.propose(notice, actions)),
    notify: (message: Parameters<Notifier['notify']>[0]) => count(message.kind, () => notifier.notify(message)),
    ...(notifier.update ? { update: (update: Parameters<NonNullable<Notifier['update']>>[0]) => count('update', () => notifier.update!(update)) } : {}),
  });
}

/** Counts LLM calls and tokens. */
export function instrumentLlm(llm: LLMProvider, metrics: FishMetrics): LLMProvider {
  const provider = llm.name;
  return decorate(llm, {
    async generate(request: Parameters<LLMProvider['generate']>[0]) {
      try {
        const result = await llm.generate(request);
        metrics.llmCalls.inc({ provider, result: 'ok' });
        metrics.llmTokens.inc({ provider, direction: 'input' }, result.usage.inputTokens);
        metrics.llmTokens.inc({ provider, direction: 'output' }, result.usage.outputTokens);
        return result;
      } catch (error) {
        metrics.llmCalls.inc({ provider, result: 'error' });
        throw error;
      }
    },
    async *stream(request: Parameters<LLMProvider['stream']>[0]) {
      let failed = true;
      try {
        for await (const part of llm.stream(request)) {
          if (part.type === 'usage') {
            metrics.llmTokens.inc({ provider, direction: 'input' }, part.usage.inputTokens);
            metrics.llmTokens.inc({ provider, direction: 'output' }, part.usage.outputTokens);
          }
          yield part;
        }
        failed = false;
      } finally {
        metrics.llmCalls.inc({ provider, result: failed ? 'error' : 'ok' });
      }
    },
  });
}
