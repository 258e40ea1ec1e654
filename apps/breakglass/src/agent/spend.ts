import type { SessionEvent } from './events.js';

/** LLM spend caps in EUR (the providers report `costEur` per call). */
export interface SpendCaps {
  perSessionEur?: number;
  perMonthEur?: number;
}

export function sessionCost(events: Iterable<SessionEvent>): number {
  let total = 0;
  for (const event of events) if (event.type === 'usage') total += event.costEur;
  return total;
}

/** Cost of the events in the calendar month (UTC) of `now`. */
export function monthCost(events: Iterable<SessionEvent>, now: Date): number {
  const month = now.toISOString().slice(0, 7);
  let total = 0;
  for (const event of events) if (event.type === 'usage' && event.at.startsWith(month)) total += event.costEur;
  return total;
}

/** Why the next LLM call must not start, or undefined when it may. */
export function spendCheck(caps: SpendCaps, session: Iterable<SessionEvent>, all: Iterable<SessionEvent>, now: Date): string | undefined {
  if (caps.perSessionEur !== undefined) {
    const spent = sessionCost(session);
    if (spent >= caps.perSessionEur)
      return `spend cap reached: this session has used €${spent.toFixed(2)} of its €${caps.perSessionEur.toFixed(2)}; start a new session or raise BREAKGLASS_SPEND_CAP_SESSION_EUR. The VM controls still work.`;
  }
  if (caps.perMonthEur !== undefined) {
    const spent = monthCost(all, now);
    if (spent >= caps.perMonthEur)
      return `spend cap reached: €${spent.toFixed(2)} of the €${caps.perMonthEur.toFixed(2)} monthly cap is used; raise BREAKGLASS_SPEND_CAP_MONTH_EUR to go on. The VM controls still work.`;
  }
  return undefined;
}
