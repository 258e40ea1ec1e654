import { randomUUID } from 'node:crypto';
import type { AuditStore } from '../contracts/audit-store.js';
import type { LLMGenerateRequest, LLMGenerateResult, LLMProvider } from '../contracts/llm-provider.js';
import { FishError, FishErrorCode, errorMessage } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { systemClock, toIso } from '../util/clock.js';

export interface BudgetGuardOptions {
  store: AuditStore;
  /** Monthly cap in EUR. @default 20 */
  monthlyCapEur?: number;
  clock?: Clock;
  /** Called once per month when the cap is first reached (to notify the owner). */
  onExhausted?: (info: { month: string; spentEur: number; capEur: number }) => void;
}

/** `YYYY-MM` of a timestamp, in UTC. */
export function budgetMonth(milliseconds: number): string {
  return new Date(milliseconds).toISOString().slice(0, 7);
}

/**
 * The monthly EUR cap on LLM spend. Before a call it reserves the call's worst-case cost in the
 * audit store's ledger (atomically, so 50 concurrent classifications cannot overspend); after the
 * call it settles the reservation to the real cost. At the cap it refuses with BUDGET_EXHAUSTED
 * and the caller falls back to deterministic-only.
 */
export class BudgetGuard {
  readonly capEur: number;
  private readonly clock: Clock;
  private notifiedMonth: string | undefined;

  constructor(private readonly options: BudgetGuardOptions) {
    this.capEur = options.monthlyCapEur ?? 20;
    this.clock = options.clock ?? systemClock;
  }

  async spentThisMonth(): Promise<number> {
    return this.options.store.spentInMonth(budgetMonth(this.clock.now()));
  }

  /** Runs `call` under a reservation of `estimateEur`. */
  async run(provider: LLMProvider, request: LLMGenerateRequest, purpose: string): Promise<LLMGenerateResult> {
    const estimateEur = Math.max(0, provider.estimateCostEur?.(request) ?? 0);
    const month = budgetMonth(this.clock.now());
    const id = randomUUID();
    const reserved = await this.options.store.reserveBudget({
      id,
      month,
      amountEur: estimateEur,
      capEur: this.capEur,
      purpose,
      provider: provider.provider,
      model: request.model ?? provider.modelId,
      at: toIso(this.clock.now()),
    });
    if (!reserved) {
      const spentEur = await this.options.store.spentInMonth(month);
      if (this.notifiedMonth !== month) {
        this.notifiedMonth = month;
        this.options.onExhausted?.({ month, spentEur, capEur: this.capEur });
      }
      throw new FishError({
        code: FishErrorCode.BUDGET_EXHAUSTED,
        message: errorMessage('budget', `monthly LLM budget reached (${spentEur.toFixed(4)} of ${this.capEur} EUR in ${month}); classifying deterministically only`),
      });
    }
    let result: LLMGenerateResult | undefined;
    try {
      result = await provider.generate(request);
      return result;
    } finally {
      // A failed call is settled at zero only when the provider says nothing was billed (no result);
      // a result settles at its real cost.
      await this.options.store.settleBudget({
        id,
        actualEur: result ? result.usage.costEur : 0,
        inputTokens: result?.usage.inputTokens ?? 0,
        outputTokens: result?.usage.outputTokens ?? 0,
        at: toIso(this.clock.now()),
      });
    }
  }
}
