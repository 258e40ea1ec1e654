import type { DecisionOutcome } from '@fish-sre/core';

/** The HTTP status the approval endpoint answers a decision with. */
export type DecisionHttpStatus = 200 | 400 | 403 | 404 | 409 | 410;

/**
 * Maps the engine's decision outcome to HTTP: a forged link is 403, a damaged link or the wrong
 * button 400, an unknown proposal 404, one decided already 409, one expired 410.
 */
export function decisionHttpStatus(outcome: DecisionOutcome): DecisionHttpStatus {
  if (outcome.ok) return 200;
  switch (outcome.status) {
    case 'invalid':
      return outcome.reason === 'bad-signature' ? 403 : 400;
    case 'wrong-decision':
      return 400;
    case 'not-found':
      return 404;
    case 'already-decided':
      return 409;
    case 'expired':
      return 410;
  }
}
