import type { DetectedIncident } from './detection.js';

/**
 * The point between detection and routing where an incident is claimed. Detection already
 * checked the in-memory cooldown; with several fish instances watching the same sources, a claim
 * backed by a shared store (fingerprint + cooldown) makes sure only one of them routes it.
 */
export interface IncidentClaim {
  /**
   * Claims the incident for this instance until `incident.cooldownUntil`. Resolves false when
   * another instance holds an unexpired claim on the same fingerprint: the incident is dropped.
   */
  claim(incident: DetectedIncident): Promise<boolean>;
}

/** A single instance owns every incident it detects. */
export const localIncidentClaim: IncidentClaim = {
  async claim() {
    return true;
  },
};
