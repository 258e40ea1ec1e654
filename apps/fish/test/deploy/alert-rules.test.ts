import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const run = promisify(execFile);
const directory = join(dirname(fileURLToPath(import.meta.url)), '../../deploy/prometheus');
const PROMTOOL = process.env.FISH_PROMTOOL_BIN ?? '/usr/bin/promtool';

interface RuleFile {
  groups: Array<{ rules: Array<{ alert?: string; expr: string }> }>;
}
interface RuleTestFile {
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

describe('alert rules (apps/fish/deploy/prometheus)', () => {
  it('promtool is installed (Debian prometheus package)', () => {
    expect(existsSync(PROMTOOL)).toBe(true);
  });

  it('promtool check rules accepts fish-rules.yml', async () => {
    const { stdout } = await run(PROMTOOL, ['check', 'rules', 'fish-rules.yml'], { cwd: directory });
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('promtool test rules passes', async () => {
    const { stdout } = await run(PROMTOOL, ['test', 'rules', 'fish-rules.test.yml'], { cwd: directory });
    expect(stdout).toContain('SUCCESS');
  });

  it('every alert has a unit test where it fires and one where it stays quiet', async () => {
    const rules = parse(await readFile(join(directory, 'fish-rules.yml'), 'utf8')) as RuleFile;
    const tests = parse(await readFile(join(directory, 'fish-rules.test.yml'), 'utf8')) as RuleTestFile;
    const alerts = rules.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : [])));
    expect(alerts).toEqual(
      expect.arrayContaining([
        'FishDown',
        'FishSourceDown',
        'FishNotifierFailing',
        'FishAuditStoreFailing',
        'FishLlmBudgetExhausted',
        'FishEventsDropped',
        'FishApprovalWaitingTooLong',
        'FishFixFailingRepeatedly',
      ]),
    );
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const alert of alerts) {
      const own = cases.filter((testCase) => testCase.alertname === alert);
      expect(
        own.some((testCase) => testCase.exp_alerts.length > 0),
        `${alert} never fires in a test`,
      ).toBe(true);
      expect(
        own.some((testCase) => testCase.exp_alerts.length === 0),
        `${alert} is never checked quiet`,
      ).toBe(true);
    }
  });

  it('a rule with a broken expression is refused by promtool (the check is real)', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'fish-rules-'));
    try {
      await writeFile(join(folder, 'bad.yml'), 'groups:\n  - name: bad\n    rules:\n      - alert: Broken\n        expr: increase(fish_events_dropped_total[10m] > 0\n');
      const error = await run(PROMTOOL, ['check', 'rules', 'bad.yml'], { cwd: folder }).then(
        () => undefined,
        (caught: unknown) => caught as { stdout: string; stderr: string },
      );
      expect(`${error?.stdout}${error?.stderr}`).toMatch(/FAILED|parse error/i);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
