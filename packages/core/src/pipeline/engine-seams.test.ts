import { describe, expect, it } from 'vitest';
import { webDownEngine } from '../test-support/web-down-engine.js';
import { logEvent } from '../test-support/fixtures.js';

const engine = webDownEngine;

describe('engine seams', () => {
  it('routes only the incidents the claim grants, and counts the others', async () => {
    const claimed: string[] = [];
    const { fish, audit, clock } = engine({
      incidentClaim: {
        async claim(incident) {
          claimed.push(`${incident.fingerprint}@${incident.cooldownUntil - incident.firstSeen}`);
          return claimed.length === 1;
        },
      },
    });
    await fish.ingest(logEvent({ message: 'web down', time: clock.now() }));
    await fish.ingest(logEvent({ message: 'web down', host: 'leonard', time: clock.now() }));
    expect(claimed).toHaveLength(2);
    expect(claimed[0]).toMatch(/@1800000$/);
    expect((await audit.listIncidents()).map((incident) => incident.host)).toEqual(['penny']);
    expect(fish.stats()).toMatchObject({ incidents: 2, claimedElsewhere: 1 });
  });

  it('reports counters and timings to the observer, and an observer that throws breaks nothing', async () => {
    const counted: string[] = [];
    const timed: string[] = [];
    const { fish, clock, audit } = engine({
      observer: {
        count(counter) {
          counted.push(counter);
          throw new Error('observer bug');
        },
        observe(histogram, _milliseconds, labels) {
          timed.push(`${histogram}:${labels?.outcome ?? ''}`);
        },
      },
    });
    await fish.ingest(logEvent({ message: 'web down', time: clock.now() }));
    expect(counted).toEqual(['events', 'matched', 'incidents', 'proposals', 'notifications']);
    expect(timed).toEqual(['notification:sent', 'incidentRouting:proposal']);
    expect(await audit.listProposals()).toHaveLength(1);
    expect(fish.stats()).toMatchObject({ events: 1, matched: 1, incidents: 1, proposals: 1, errors: 0 });
  });

  it('takes an auto-exec policy in place of the default rule', async () => {
    const asked: string[] = [];
    const { fish, clock, audit, notifier } = engine({
      autoExec: true,
      autoExecPolicy: {
        async evaluate(pattern) {
          asked.push(pattern.id);
          return { autoExec: false };
        },
      },
    });
    await fish.ingest(logEvent({ message: 'web down', time: clock.now() }));
    expect(asked).toEqual(['web-down']);
    expect((await audit.listProposals())[0]).toMatchObject({ autoExec: false, status: 'proposed' });
    expect(notifier.sent.map((item) => item.type)).toEqual(['propose']);
  });
});
