import { RE2JS } from 're2js';

/**
 * A catalog regular expression compiled for the linear-time engine (RE2). Matching time grows
 * with the length of the text only, whatever the pattern: a crafted line cannot stall the loop
 * the way a backtracking engine's `(a+)+$` or `.*x.*y` on a long line can.
 */
export interface LinearRegex {
  readonly source: string;
  readonly ignoreCase: boolean;
  /** Which engine runs it: always `re2`, named so tests and docs can tell. */
  readonly engine: 're2';
  test(text: string): boolean;
}

/**
 * JavaScript escapes RE2 spells differently (`\uXXXX`, `\u{X}` become `\x{X}`). Everything else
 * the two share is passed through unchanged; what RE2 lacks (look-around, back-references) is
 * refused by its parser with a clear message.
 */
function toRe2Syntax(source: string): string {
  let out = '';
  for (let index = 0; index < source.length; index++) {
    const char = source[index]!;
    if (char !== '\\') {
      out += char;
      continue;
    }
    const next = source[index + 1];
    if (next === 'u') {
      const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(source.slice(index + 2));
      if (braced) {
        out += `\\x{${braced[1]}}`;
        index += 1 + braced[0].length;
        continue;
      }
      const plain = /^[0-9a-fA-F]{4}/.exec(source.slice(index + 2));
      if (plain) {
        out += `\\x{${plain[0]}}`;
        index += 5;
        continue;
      }
    }
    out += char + (next ?? '');
    index++;
  }
  return out;
}

/**
 * Compiles a catalog regex for the linear-time engine.
 * @throws Error naming what the engine does not support (look-around, back-references, ...)
 */
export function compileLinearRegex(source: string, options: { ignoreCase?: boolean; lazy?: boolean } = {}): LinearRegex {
  const ignoreCase = options.ignoreCase === true;
  const compile = (): RE2JS => {
    try {
      return RE2JS.compile(toRe2Syntax(source), ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
    } catch (error) {
      throw new Error(`not supported by the linear-time regex engine (RE2 syntax: no look-ahead, look-behind or back-references): ${(error as Error).message}`);
    }
  };
  // Lazy: compiled on the first line that reaches it (most never do: the literal prefilter keeps
  // them out), so a large catalog costs little memory. The catalog schema compiled it once already.
  let compiled: RE2JS | undefined = options.lazy ? undefined : compile();
  return {
    source,
    ignoreCase,
    engine: 're2',
    test: (text) => (compiled ??= compile()).test(text),
  };
}

/** Why a source cannot be a catalog regex (JavaScript syntax and the linear engine both), or undefined. */
export function regexProblem(source: string): string | undefined {
  try {
    new RegExp(source, 'u');
  } catch (error) {
    return `invalid regular expression ${JSON.stringify(source)}: ${(error as Error).message}`;
  }
  try {
    compileLinearRegex(source);
  } catch (error) {
    return `regular expression ${JSON.stringify(source)} is ${(error as Error).message}`;
  }
  return undefined;
}
