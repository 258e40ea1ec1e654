import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FishError, FishErrorCode } from './errors.js';

describe('FishError', () => {
  it('every code is documented in docs/errors.md, and nothing else is', () => {
    const page = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...page.matchAll(/^\| `(FISH_ERR_[A-Z_]+)` \|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(Object.values(FishErrorCode).sort());
  });

  it('is recognised across copies by its symbol marker, not its prototype', () => {
    const error = new FishError({ code: FishErrorCode.TOKEN_INVALID, message: 'x' });
    const foreign = Object.assign(Object.create(Error.prototype), { [Symbol.for('fish-sre.error')]: true, code: 'FISH_ERR_TOKEN_INVALID' });
    expect(FishError.isInstance(error)).toBe(true);
    expect(FishError.isInstance(foreign)).toBe(true);
    expect(FishError.isInstance(new Error('plain'))).toBe(false);
    expect(FishError.hasCode(error, FishErrorCode.TOKEN_INVALID)).toBe(true);
    expect(FishError.hasCode(error, FishErrorCode.TOKEN_EXPIRED)).toBe(false);
  });
});
