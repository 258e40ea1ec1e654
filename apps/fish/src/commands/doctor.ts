import { dirname } from 'node:path';
import { createSecretRedactor, describeError, type FishError } from '@fish-sre/core';
import { openCatalog } from '../catalog-layers.js';
import { composeFish } from '../compose.js';
import { loadConfig } from '../config.js';
import { exitStatusOf } from '../config-errors.js';

interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

async function bounded(what: string, check: () => Promise<{ ok: boolean; detail: string }>, timeoutMs = 10_000): Promise<Check> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const result = await Promise.race([
      check(),
      new Promise<{ ok: boolean; detail: string }>((resolve) => controller.signal.addEventListener('abort', () => resolve({ ok: false, detail: `no answer within ${timeoutMs / 1000} s` }))),
    ]);
    return { what, ...result };
  } catch (error) {
    return { what, ok: false, detail: describeError(error) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `fish-sre doctor`: reaches every configured source, the notifier, each executor target and the
 * LLM, and says what is wrong in words a homelab owner understands. Its output holds no secret the
 * config took from the environment (`${FISH_NTFY_TOPIC}`, tokens): it is the kind of text that gets
 * pasted into a bug report.
 */
export async function doctor(configPath: string, write: (text: string) => void): Promise<number> {
  const checks: Check[] = [];
  let config;
  try {
    config = await loadConfig(configPath);
    checks.push({ what: 'config', ok: true, detail: configPath });
  } catch (error) {
    write(`✗ config: ${(error as FishError).message}\n`);
    return exitStatusOf(error);
  }
  try {
    const source = openCatalog(config.catalog, dirname(config.configPath));
    const catalog = await source.load();
    checks.push({ what: 'catalog', ok: true, detail: `${catalog.patterns.length} patterns in ${source.name}` });
  } catch (error) {
    checks.push({ what: 'catalog', ok: false, detail: describeError(error) });
  }
  let app;
  // A plugin the config names or sets wrongly is a config error (status 78), like a bad field.
  let status = 1;
  try {
    app = await composeFish(config, { listen: false });
  } catch (error) {
    checks.push({ what: 'plugins', ok: false, detail: describeError(error) });
    status = exitStatusOf(error);
  }
  if (app) {
    for (const source of app.sources) checks.push(await bounded(`source ${source.name}`, () => source.check?.() ?? Promise.resolve({ ok: true, detail: 'no check available' })));
    for (const notifier of app.notifiers) checks.push(await bounded(`notifier ${notifier.name}`, () => notifier.check?.() ?? Promise.resolve({ ok: true, detail: 'no check available' })));
    for (const host of app.executor.hosts?.() ?? []) {
      checks.push(await bounded(`executor ${app.executor.name} → ${host}`, () => app.executor.check?.(host) ?? Promise.resolve({ ok: true, detail: 'no check available' })));
    }
    if (app.llm) checks.push(await bounded(`llm ${app.llm.provider} (${app.llm.modelId})`, () => app.llm!.check?.() ?? Promise.resolve({ ok: true, detail: 'no check available' })));
    const month = new Date().toISOString().slice(0, 7);
    if (config.llm) checks.push({ what: 'llm budget', ok: true, detail: `${(await app.audit.spentInMonth(month)).toFixed(2)} of ${config.llm.monthlyBudgetEur} EUR spent in ${month}` });
    await app.stop();
  }
  // A plugin's error may quote what it was given (an ntfy topic in a URL, a token in a header):
  // what the config took from the environment is a secret, here as in the logs.
  const redact = createSecretRedactor(config.secrets);
  for (const check of checks) write(redact(`${check.ok ? '✓' : '✗'} ${check.what}: ${check.detail}\n`));
  const failed = checks.filter((check) => !check.ok).length;
  write(failed === 0 ? 'All checks passed.\n' : `${failed} check(s) failed.\n`);
  return failed === 0 ? 0 : status;
}
