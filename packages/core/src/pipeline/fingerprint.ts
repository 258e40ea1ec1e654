import { createHash } from 'node:crypto';

/** Same candidates on the same host and service = the same incident. */
export function incidentFingerprint(candidatePatternIds: readonly string[], host: string, service: string): string {
  const hash = createHash('sha256');
  hash
    .update([...candidatePatternIds].sort().join(','))
    .update('\0')
    .update(host)
    .update('\0')
    .update(service);
  return hash.digest('hex').slice(0, 24);
}
