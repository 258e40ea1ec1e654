import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FishError, FishErrorCode } from '../errors.js';
import { closestName, editDistance, parseOptions } from './options.js';

describe('closestName', () => {
  it('finds typos: a dropped letter, a swap, a case slip', () => {
    expect(closestName('tokn', ['server', 'topic', 'token'])).toBe('token');
    expect(closestName('toekn', ['server', 'topic', 'token'])).toBe('token');
    expect(closestName('startat', ['path', 'startAt', 'follow'])).toBe('startAt');
    expect(editDistance('ab', 'ba')).toBe(1);
  });

  it('suggests nothing for a name far from every known one', () => {
    expect(closestName('colour', ['path', 'startAt'])).toBeUndefined();
    expect(closestName('x', ['path'])).toBeUndefined();
  });
});

describe('parseOptions', () => {
  const Schema = z.strictObject({ token: z.string().optional(), retry: z.strictObject({ attempts: z.number().int() }).optional() });

  it('returns the parsed options', () => {
    expect(parseOptions(Schema, { token: 'x', retry: { attempts: 2 } }, 'ntfy')).toEqual({ token: 'x', retry: { attempts: 2 } });
  });

  it('names an unknown key at its full path with a suggestion, nested objects included', () => {
    let thrown: unknown;
    try {
      parseOptions(Schema, { tokn: 'secret-value', retry: { atempts: 2 } }, 'ntfy', 'notifier.options');
    } catch (error) {
      thrown = error;
    }
    expect(FishError.hasCode(thrown, FishErrorCode.PLUGIN_OPTIONS_INVALID)).toBe(true);
    const message = (thrown as FishError).message;
    expect(message).toMatch(/^\[fish-sre\] \[ntfy\] invalid options: /);
    expect(message).toContain('notifier.options.tokn: unknown option "tokn" (did you mean "token"?)');
    expect(message).toContain('notifier.options.retry.atempts: unknown option "atempts" (did you mean "attempts"?)');
    expect(message).not.toContain('secret-value');
  });

  it('names a wrong type at its path', () => {
    expect(() => parseOptions(Schema, { retry: { attempts: 'two' } }, 'ntfy', 'notifier.options')).toThrow(/notifier\.options\.retry\.attempts: .*expected number/);
  });
});
