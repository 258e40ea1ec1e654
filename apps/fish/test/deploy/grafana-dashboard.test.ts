import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoFish } from '../operate/demo-fish.js';
import { queryPrometheus, startRealPrometheus, type RealProcess } from '@fish-sre/testkit';

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
}

const DASHBOARD = join(import.meta.dirname, '../../deploy/grafana/fish-dashboard.json');

/** Grafana's variables as they resolve for one fish scraped as job "fish". */
function resolveVariables(expression: string): string {
  return expression.replaceAll('$job', 'fish').replaceAll('$instance', '.*').replaceAll('$__rate_interval', '20s').replaceAll('$__range', '5m');
}

describe('Grafana dashboard against a real Prometheus scraping a running fish', () => {
  let fish: Awaited<ReturnType<typeof startDemoFish>>;
  let prometheus: RealProcess;
  let panels: Panel[];

  beforeAll(async () => {
    panels = (JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Panel[] }).panels;
    fish = await startDemoFish();
    prometheus = await startRealPrometheus({ target: new URL(fish.metricsUrl).host });
    // Enough scrapes for rate() over the windows above.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const samples = await queryPrometheus(prometheus.url, 'count_over_time(up{job="fish"}[1m])');
      const count = Number((samples.data?.result[0] as { value?: [number, string] } | undefined)?.value?.[1] ?? 0);
      if (count >= 4) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }, 90_000);
  afterAll(async () => {
    await prometheus?.stop();
    await fish?.stop();
  });

  it('is importable: a datasource variable, every panel and target uses it', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { templating: { list: Array<{ name: string; type: string }> }; __inputs: unknown[] };
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource' }));
    const queried = panels.filter((panel) => panel.type !== 'row');
    expect(queried.length).toBeGreaterThanOrEqual(15);
    for (const panel of queried) {
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
  });

  it('every panel query runs without error and returns data after the demo incident', async () => {
    const empty: string[] = [];
    for (const panel of panels.filter((candidate) => candidate.type !== 'row')) {
      for (const target of panel.targets ?? []) {
        const answer = await queryPrometheus(prometheus.url, resolveVariables(target.expr));
        expect(answer.status, `${panel.title}: ${target.expr}: ${answer.error}`).toBe('success');
        if ((answer.data?.result.length ?? 0) === 0) empty.push(`${panel.title}: ${target.expr}`);
      }
    }
    expect(empty, 'panels with no data').toEqual([]);
  });
});
