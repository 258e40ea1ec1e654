import { createHash } from 'node:crypto';
import type { ProposalPin } from '../contracts/records.js';
import type { CatalogSnapshot, Pattern } from './catalog-schema.js';

const STEPS = ['fix', 'verify', 'rollback'] as const;

/** The pin of a pattern in a catalog. */
export function pinPattern(pattern: Pattern, catalog: CatalogSnapshot): ProposalPin {
  const definition = JSON.stringify([pattern.fix ?? null, pattern.verify ?? null, pattern.rollback ?? null, pattern.on_failure, pattern.target_host]);
  const scripts: ProposalPin['scripts'] = [];
  for (const step of STEPS) {
    const script = pattern[step]?.script;
    if (script === undefined) continue;
    const sha256 = catalog.scriptDigests?.[script];
    scripts.push(sha256 === undefined ? { step, script } : { step, script, sha256 });
  }
  return { catalogDigest: catalog.digest, pattern: createHash('sha256').update(definition, 'utf8').digest('hex'), scripts };
}

/**
 * What changed between the pin a proposal showed and the pattern as it is now, in words, or
 * undefined when nothing that runs changed. A script digest missing on both sides (a catalog
 * built without reading its scripts) compares by name only; missing on one side only refuses.
 */
export function pinChange(shown: ProposalPin, now: ProposalPin): string | undefined {
  const changes: string[] = [];
  for (const step of STEPS) {
    const before = shown.scripts.find((script) => script.step === step);
    const after = now.scripts.find((script) => script.step === step);
    if (before === undefined && after === undefined) continue;
    if (before === undefined || after === undefined || before.script !== after.script) {
      changes.push(`${step} script ${before?.script ?? 'none'} -> ${after?.script ?? 'none'}`);
    } else if (before.sha256 !== undefined && after.sha256 !== undefined && before.sha256 !== after.sha256) {
      changes.push(`${step} script ${before.script} content changed (sha256 ${before.sha256.slice(0, 12)} -> ${after.sha256.slice(0, 12)})`);
    } else if ((before.sha256 === undefined) !== (after.sha256 === undefined)) {
      changes.push(`${step} script ${before.script} can no longer be compared (its digest is missing)`);
    }
  }
  if (changes.length === 0 && shown.pattern !== now.pattern) changes.push('the fix definition (timeouts, on_failure or target) changed');
  return changes.length === 0 ? undefined : changes.join('; ');
}
