import { RegExpParser, type AST } from '@eslint-community/regexpp';

/** Literals shorter than this select too many lines to be worth indexing. */
export const MIN_LITERAL_LENGTH = 3;
/** Longer literals are cut: any part of a required literal is required too, and the index stays small. */
export const MAX_LITERAL_LENGTH = 24;
/** Bound on the finite sets of exact strings tracked while walking a regex. */
const MAX_EXACT = 16;

/**
 * What a regex node is known to match: a small finite set of exact strings, or else the best
 * "one of these literals must appear" set found inside it (undefined: nothing known).
 */
interface Info {
  exact?: string[];
  required?: string[];
}

const parser = new RegExpParser({ ecmaVersion: 2025 });

/** Longest run of printable ASCII: the literal index folds case over ASCII only. */
function asciiCore(text: string): string {
  let best = '';
  for (const run of text.split(/[^\x20-\x7e]+/)) if (run.length > best.length) best = run;
  return best.slice(0, MAX_LITERAL_LENGTH);
}

/** A set of alternatives is usable when every one keeps a long enough ASCII core. */
function usable(literals: readonly string[] | undefined): string[] | undefined {
  if (!literals || literals.length === 0) return undefined;
  const cores = [...new Set(literals.map(asciiCore))];
  return cores.every((core) => core.length >= MIN_LITERAL_LENGTH) ? cores : undefined;
}

/** ASCII letters fold to lowercase; any other character is kept (and later cut out by asciiCore). */
function fold(code: number): string {
  return code < 128 ? String.fromCharCode(code).toLowerCase() : String.fromCodePoint(code);
}

function score(literals: string[] | undefined): number {
  return literals ? Math.min(...literals.map((literal) => literal.length)) * 64 - literals.length : -1;
}

function better(a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  return score(b) > score(a) ? b : a;
}

function required(info: Info): string[] | undefined {
  return info.exact ? usable(info.exact) : info.required;
}

function cross(left: string[], right: string[]): string[] | undefined {
  if (left.length * right.length > MAX_EXACT) return undefined;
  const out = new Set<string>();
  for (const a of left) for (const b of right) out.add(a + b);
  return [...out];
}

function alternation(alternatives: readonly AST.Alternative[]): Info {
  const infos = alternatives.map(sequence);
  if (infos.every((info) => info.exact)) {
    const union = [...new Set(infos.flatMap((info) => info.exact!))];
    if (union.length <= MAX_EXACT) return { exact: union };
  }
  const parts = infos.map(required);
  if (parts.some((part) => part === undefined)) return {};
  return { required: [...new Set(parts.flatMap((part) => part!))] };
}

function sequence(alternative: AST.Alternative): Info {
  let run: string[] = [''];
  let broken = false;
  let best: string[] | undefined;
  for (const element of alternative.elements) {
    const info = node(element);
    if (info.exact) {
      const joined = cross(run, info.exact);
      if (joined) run = joined;
      else {
        best = better(best, usable(run));
        run = info.exact;
        broken = true;
      }
      continue;
    }
    best = better(better(best, usable(run)), info.required);
    run = [''];
    broken = true;
  }
  if (!broken) return { exact: run };
  return { required: better(best, usable(run)) };
}

function characterClass(element: AST.CharacterClass): Info {
  if (element.negate) return {};
  const chars = new Set<string>();
  for (const member of element.elements) {
    if (member.type === 'Character') chars.add(fold(member.value));
    else if (member.type === 'CharacterClassRange' && member.max.value - member.min.value < 4) {
      for (let code = member.min.value; code <= member.max.value; code++) chars.add(fold(code));
    } else return {};
    if (chars.size > 4) return {};
  }
  return chars.size > 0 ? { exact: [...chars] } : {};
}

function node(element: AST.Element): Info {
  switch (element.type) {
    case 'Character':
      return { exact: [fold(element.value)] };
    case 'CharacterClass':
      return characterClass(element);
    case 'Assertion':
      // Zero-width: `^`, `$`, `\b` and look-arounds consume nothing.
      return { exact: [''] };
    case 'Group':
    case 'CapturingGroup':
      return alternation(element.alternatives);
    case 'Quantifier': {
      const inner = node(element.element);
      if (element.min === 0) {
        if (element.max === 1 && inner.exact && inner.exact.length < MAX_EXACT) return { exact: ['', ...inner.exact] };
        return {};
      }
      if (element.min === 1 && element.max === 1) return inner;
      return { required: required(inner) };
    }
    default:
      // Character sets (`.`, `\d`, `\p{..}`), back-references, string classes: no literal.
      return {};
  }
}

/**
 * Literals one of which every match of `source` must contain (lowercase, printable ASCII), or
 * undefined when the regex has none usable (such a signal is tried on every line in scope).
 * Sound for case-insensitive matching too: the index folds case when it scans.
 */
export function requiredLiterals(source: string): string[] | undefined {
  let pattern: AST.Pattern;
  try {
    pattern = parser.parsePattern(source, 0, source.length, { unicode: true });
  } catch {
    return undefined;
  }
  return required(alternation(pattern.alternatives));
}
