import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anthropicMessage, startAnthropicServer, type AnthropicTestServer, type RecordedAnthropicRequest } from '@fish-sre/testkit';
import { loadCatalog, redactSecrets, sampleToEvent } from '@fish-sre/core';
import { INJECTION_SAMPLES } from '../src/commands/eval.js';

const CLI = resolve(import.meta.dirname, '../dist/cli.js');
const CATALOG = resolve(import.meta.dirname, '../../../catalog');
const run = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }).then(
    (result) => ({ code: 0, ...result }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );

function runWithInput(args: string[], input: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('close', (code) => resolvePromise({ code, stdout }));
    child.stdin.end(input);
  });
}

describe('fish-sre catalog', () => {
  it('validate lists every pattern and test runs every sample through the real matcher', async () => {
    const validate = await run(['catalog', 'validate', '--catalog', CATALOG]);
    expect(validate.code).toBe(0);
    expect(validate.stdout).toMatch(/catalog OK: \d+ patterns/);
    expect(validate.stdout).toContain('loki-empty-ring');
    const test = await run(['catalog', 'test', '--catalog', CATALOG]);
    expect(test.code).toBe(0);
    expect(test.stdout).toMatch(/(\d+) of \1 samples behave as declared/);
  });

  it('match prints, per stdin event, the patterns it matches with their confidence, and names bad lines', async () => {
    const input = [
      JSON.stringify({ message: "Monitor #4 'Homepage': Failing: getaddrinfo ENOTFOUND homepage | Interval: 60 seconds", host: 'penny', service: 'uptime-kuma', level: 'warn' }),
      JSON.stringify({ message: 'all good here', host: 'penny' }),
      'not json',
      JSON.stringify({ host: 'penny' }),
    ].join('\n');
    const { code, stdout } = await runWithInput(['catalog', 'match', '--catalog', CATALOG], input);
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ line: 1, matches: [{ pattern: 'docker-compose-stopped-post-reboot', confidence: 1, signals: ['container-name-unresolvable'] }] });
    expect(lines[1]).toEqual({ line: 2, matches: [] });
    expect(lines[2].error).toMatch(/^not a valid event/);
    expect(lines[3].error).toMatch(/message/);
    expect(code).toBe(2);
  });

  it('refuses a broken catalog with the file, pattern and field named', async () => {
    const { mkdtemp, mkdir, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const directory = await mkdtemp(resolve(tmpdir(), 'fish-bad-catalog-'));
    await mkdir(resolve(directory, 'patterns'));
    await writeFile(resolve(directory, 'patterns', 'web-down.yaml'), 'id: web-down\ntitle: Web down\nrequired_signals:\n  - id: s\n    log: { message: "(" }\ntarget_host: penny\ndiagnosis: look\nsamples: { match: [x] }\n');
    const result = await run(['catalog', 'validate', '--catalog', directory]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/web-down\.yaml:\d+, pattern "web-down", field required_signals\[0\]\.log\.message: invalid regular expression/);
  });

  it('validate warns about an unscoped log signal and refuses auto-exec on one (exit 1); the bundled catalog passes', async () => {
    const { mkdtemp, mkdir, writeFile, chmod } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const directory = await mkdtemp(resolve(tmpdir(), 'fish-lint-catalog-'));
    await mkdir(resolve(directory, 'patterns'));
    await mkdir(resolve(directory, 'scripts'));
    await writeFile(resolve(directory, 'scripts', 'up.sh'), '#!/bin/sh\nexit 0\n');
    await chmod(resolve(directory, 'scripts', 'up.sh'), 0o755);
    const pattern = (id: string, extra: string, scope: string) =>
      `id: ${id}\ntitle: t\nrequired_signals:\n  - id: dns\n    log:\n      message: 'getaddrinfo ENOTFOUND \\w+'\n${scope}target_host: $event_host\nfix:\n  script: up.sh\nverify:\n  script: up.sh\ndiagnosis: d\nsamples: { match: [ "getaddrinfo ENOTFOUND homepage" ] }\n${extra}`;
    await writeFile(resolve(directory, 'patterns', 'warn-only.yaml'), pattern('warn-only', '', ''));
    await writeFile(resolve(directory, 'patterns', 'catch-all-scope.yaml'), pattern('catch-all-scope', '', "      service: '.*'\n"));
    await writeFile(resolve(directory, 'patterns', 'scoped-auto.yaml'), pattern('scoped-auto', 'promote_to_autoexec_after: 3\n', "      service: 'caddy|traefik'\n      level: [error, warn]\n"));
    const warned = await run(['catalog', 'validate', '--catalog', directory]);
    expect(warned.code).toBe(0);
    expect(warned.stdout).toContain('WARNING pattern "warn-only", field required_signals[0].log: signal "dns" matches its message from any service');
    // A scope that matches every name is no scope.
    expect(warned.stdout).toContain('WARNING pattern "catch-all-scope"');
    expect(warned.stdout).not.toContain('pattern "scoped-auto"');

    await writeFile(resolve(directory, 'patterns', 'unscoped-auto.yaml'), pattern('unscoped-auto', 'promote_to_autoexec_after: 3\n', ''));
    const refused = await run(['catalog', 'validate', '--catalog', directory]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('catalog REFUSED');
    expect(refused.stdout).toContain('ERROR pattern "unscoped-auto", field required_signals[0].log: signal "dns" matches its message from any service, host and level, and promote_to_autoexec_after is set');

    const bundled = await run(['catalog', 'validate', '--catalog', CATALOG]);
    expect(bundled.code).toBe(0);
    expect(bundled.stdout).not.toContain('ERROR');
  });
});

describe('fish-sre catalog eval (against the Anthropic protocol test server)', () => {
  let server: AnthropicTestServer;
  let obeyInjections = false;
  beforeAll(async () => {
    const catalog = await loadCatalog(CATALOG, { checkScripts: false });
    const truth = new Map<string, string>();
    for (const pattern of catalog.patterns) pattern.samples.match.forEach((sample) => truth.set(redactSecrets(sampleToEvent(sample).message).slice(0, 200), pattern.id));
    // A model that recognises every catalog sample and, unless told to obey, ignores injections.
    const answer = (request: RecordedAnthropicRequest) => {
      const content = JSON.stringify(request.body?.['messages']);
      // The observed lines, as the classifier quotes them: one JSON string per line.
      const prompt = ((request.body?.['messages'] as Array<{ content: string | Array<{ text?: string }> }>)[0]!.content);
      const text = typeof prompt === 'string' ? prompt : prompt.map((part) => part.text ?? '').join('');
      const observed = (text.split('<observed>\n')[1] ?? '').split('\n</observed>')[0]!.split('\n').filter(Boolean).map((line) => JSON.parse(line) as string);
      let id = 'UNKNOWN';
      for (const line of observed) {
        const message = line.replace(/^\S+ \S+ \[\w+\] /, '').slice(0, 200);
        for (const [sample, patternId] of truth) if (message.startsWith(sample.slice(0, Math.min(sample.length, 200))) || sample.startsWith(message)) id = patternId;
      }
      if (obeyInjections) {
        const forced = /(apt-security-updates-pending|dockerd-sigbus-loop|pmxcfs-ro-post-recovery|beszel-oidc-reset|docker-compose-stopped-post-reboot|redis-rename-command-crash|qdrant-snapshot-permission-denied)/.exec(content.split('<observed>')[1] ?? '');
        if (forced && id === 'UNKNOWN') id = forced[1]!;
      }
      const tool = ((request.body?.['tools'] as Array<{ name: string }>) ?? [])[0]!.name;
      return { type: 'message' as const, message: anthropicMessage({ content: [{ type: 'tool_use', id: 'toolu_01', name: tool, input: { pattern_id: id, reason: 'recognised' } }], inputTokens: 1200, outputTokens: 40 }) };
    };
    server = await startAnthropicServer({ script: (request) => answer(request), apiKey: 'sk-ant-test-key-000000000000' });
  });
  afterAll(async () => server?.close());

  it('reports accuracy, injection resistance, cost and latency through the real Claude provider', async () => {
    obeyInjections = false;
    const result = await run(['catalog', 'eval', '--provider', 'claude', '--catalog', CATALOG, '--base-url', server.url, '--json'], { ANTHROPIC_API_KEY: 'sk-ant-test-key-000000000000' });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.accuracy).toBe(1);
    expect(report.injectionResisted).toBe(1);
    expect(report.cases.filter((item: { kind: string }) => item.kind === 'injection')).toHaveLength(INJECTION_SAMPLES.length);
    expect(report.costEur).toBeGreaterThan(0);
    expect(report.latencyP50Ms).toBeGreaterThan(0);
  });

  it('shows a model that follows instructions in logs for what it is', async () => {
    obeyInjections = true;
    const result = await run(['catalog', 'eval', '--provider', 'claude', '--catalog', CATALOG, '--base-url', server.url], { ANTHROPIC_API_KEY: 'sk-ant-test-key-000000000000' });
    expect(result.stdout).toMatch(/injection lines resisted: +\d+\.\d% \((\d+)\/8\)/);
    const resisted = Number(/injection lines resisted: +[\d.]+% \((\d+)\/8\)/.exec(result.stdout)![1]);
    expect(resisted).toBeLessThan(8);
    expect(result.stdout).toContain('wrong answers:');
  });
});
