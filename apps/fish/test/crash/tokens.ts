/**
 * Hostile approval tokens for the property test: forged, tampered, truncated, expired, replayed,
 * cross-proposal, cross-decision, unknown-proposal and junk. Generated with fast-check from a
 * fixed seed, so a failure names a reproducible token.
 *
 * None of them may be accepted. Valid tokens for the still-open proposal are only ever sent
 * damaged or to the wrong decision route. Expired tokens target decided proposals only: a
 * validly signed expired token is one fish itself issued, and its proposal has then expired
 * too, which fish records — that is a state change by design, not an attack.
 */
import fc from 'fast-check';
import { ApprovalSigner, type Decision, type ProposalRecord } from '@fish-sre/core';
import type { World } from './harness.js';

export interface HostileToken {
  kind: string;
  decision: Decision;
  token: string;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const other = (decision: Decision): Decision => (decision === 'approve' ? 'deny' : 'approve');
const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

export function tokenCorpus(input: {
  count: number;
  seed: number;
  world: World;
  /** Proposals already decided (approved, denied). */
  decided: ProposalRecord[];
  /** Proposals still `proposed`: must stay so. */
  open: ProposalRecord[];
  /** Tokens already used once (replays). */
  usedTokens: Record<Decision, string[]>;
}): HostileToken[] {
  const { world, decided, open, usedTokens } = input;
  const all = [...decided, ...open];
  const strangers = Array.from({ length: 4 }, () => new ApprovalSigner(ApprovalSigner.generateSecret()));
  const decision = fc.constantFrom<Decision>('approve', 'deny');
  const anyProposal = fc.constantFrom(...all);
  const openProposal = fc.constantFrom(...open);
  const decidedProposal = fc.constantFrom(...decided);
  const sig = fc.string({ unit: fc.constantFrom(...B64URL), minLength: 43, maxLength: 43 });
  const realToken = (proposal: ProposalRecord, wanted: Decision) => world.signer.sign(proposal.id, wanted, Date.parse(proposal.expiresAt));

  const kinds: Array<fc.Arbitrary<HostileToken>> = [
    // Well-formed claims, made-up signature.
    fc.record({ p: anyProposal, d: decision, s: sig, exp: fc.integer({ min: 0, max: 4_000_000_000 }) }).map(({ p, d, s, exp }) => ({
      kind: 'forged-signature',
      decision: d,
      token: `${encode({ v: 1, proposalId: p.id, decision: d, exp, jti: 'x' })}.${s}`,
    })),
    // Signed, by another fish's secret.
    fc.record({ p: anyProposal, d: decision, i: fc.nat({ max: strangers.length - 1 }) }).map(({ p, d, i }) => ({
      kind: 'other-secret',
      decision: d,
      token: strangers[i]!.sign(p.id, d, Date.parse(p.expiresAt)),
    })),
    // Cross-proposal: the claims of one proposal with the signature of another's real token.
    fc.record({ from: decidedProposal, to: openProposal, d: decision }).map(({ from, to, d }) => ({
      kind: 'cross-proposal',
      decision: d,
      token: `${realToken(to, d).split('.')[0]}.${realToken(from, d).split('.')[1]}`,
    })),
    // Tampered: a real token with its claims edited (a decided proposal's swapped for the open
    // one, decision flipped, expiry moved).
    fc.record({ p: anyProposal, from: decidedProposal, to: openProposal, d: decision, edit: fc.constantFrom('proposal', 'decision', 'exp') }).map(({ p, from, to, d, edit }) => {
      const [payload, signature] = realToken(edit === 'proposal' ? from : p, d).split('.') as [string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (edit === 'proposal') claims['proposalId'] = to.id;
      if (edit === 'decision') claims['decision'] = other(d);
      if (edit === 'exp') claims['exp'] = Number(claims['exp']) + 86_400;
      return { kind: `tampered-${edit}`, decision: edit === 'decision' ? other(d) : d, token: `${encode(claims)}.${signature}` };
    }),
    // Truncated: a real token for the open proposal, cut at either end.
    fc.record({ p: openProposal, d: decision, cut: fc.integer({ min: 1, max: 200 }), end: fc.boolean() }).map(({ p, d, cut, end }) => {
      const token = realToken(p, d);
      const keep = Math.max(0, token.length - cut);
      return { kind: 'truncated', decision: d, token: end ? token.slice(0, keep) : token.slice(token.length - keep) };
    }),
    // One character of a real token for the open proposal changed.
    fc.record({ p: openProposal, d: decision, at: fc.nat(), c: fc.constantFrom(...B64URL, '.', '~', '%2F') }).map(({ p, d, at, c }) => {
      const token = realToken(p, d);
      const index = at % token.length;
      const changed = token[index] === c ? (c === 'A' ? 'B' : 'A') : c;
      return { kind: 'bit-flip', decision: d, token: token.slice(0, index) + changed + token.slice(index + 1) };
    }),
    // Expired: real signature, past expiry, for proposals already decided.
    fc.record({ p: decidedProposal, d: decision, ago: fc.integer({ min: 1_000, max: 30 * 86_400_000 }) }).map(({ p, d, ago }) => ({
      kind: 'expired',
      decision: d,
      token: world.signer.sign(p.id, d, Date.now() - ago),
    })),
    // Expired and sent to the other decision's route, also for the open proposal.
    fc.record({ p: anyProposal, d: decision, ago: fc.integer({ min: 1_000, max: 30 * 86_400_000 }) }).map(({ p, d, ago }) => ({
      kind: 'expired-cross-decision',
      decision: other(d),
      token: world.signer.sign(p.id, d, Date.now() - ago),
    })),
    // Replays of links already used, to either route.
    fc.record({ d: decision, route: fc.boolean() }).chain(({ d, route }) => fc.constantFrom(...usedTokens[d]).map((token) => ({ kind: 'replay', decision: route ? d : other(d), token }))),
    // A real, fresh token for the open proposal sent to the other decision's route.
    fc.record({ p: openProposal, d: decision }).map(({ p, d }) => ({ kind: 'cross-decision', decision: other(d), token: realToken(p, d) })),
    // A real token for a proposal that does not exist.
    fc.record({ hex: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 20, maxLength: 20 }), d: decision }).map(({ hex, d }) => ({
      kind: 'unknown-proposal',
      decision: d,
      token: world.signer.sign(`prop_${hex}`, d, Date.now() + 3_600_000),
    })),
    // Junk of every shape and size.
    fc.record({ d: decision, text: fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: fc.constantFrom(...B64URL, '.'), minLength: 1, maxLength: 1500 })) }).map(({ d, text }) => ({
      kind: 'junk',
      decision: d,
      token: text,
    })),
  ];
  return fc.sample(fc.oneof(...kinds), { numRuns: input.count, seed: input.seed });
}
