import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anthropicMessage, startAnthropicServer, startOllamaServer, type AnthropicTestServer, type OllamaTestServer } from '@fish-sre/testkit';
import { loadCatalog, redactSecrets, type Pattern } from '@fish-sre/core';
import { sampleSilences, sampleToEvent } from '@fish-sre/core/internal';
import { INJECTION_SAMPLES, productionDistractors, type EvalCase } from '../src/commands/eval.js';

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
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
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
    await writeFile(
      resolve(directory, 'patterns', 'web-down.yaml'),
      'id: web-down\ntitle: Web down\nrequired_signals:\n  - id: s\n    log: { message: "(" }\ntarget_host: penny\ndiagnosis: look\nsamples: { match: [x] }\n',
    );
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
    expect(refused.stdout).toContain(
      'ERROR pattern "unscoped-auto", field required_signals[0].log: signal "dns" matches its message from any service, host and level, and promote_to_autoexec_after is set',
    );

    const bundled = await run(['catalog', 'validate', '--catalog', CATALOG]);
    expect(bundled.code).toBe(0);
    expect(bundled.stdout).not.toContain('ERROR');
  });
});

/** Each eval run spawns the CLI and makes ~250 classifier calls: slow on a loaded machine. */
const EVAL_TIMEOUT_MS = 180_000;

/**
 * A stand-in model, answering from what the classifier really sends: the observed lines (JSON
 * strings inside <observed>) and the allowed ids. `exact` knows every catalog sample and answers
 * UNKNOWN to anything else; `keyword` names the first allowed pattern whose program appears in
 * the line or service (so it mistakes near misses from the same program for the pattern);
 * `obey` also follows instructions written in the lines.
 */
type ModelMode = 'exact' | 'keyword' | 'obey';

function modelAnswer(promptText: string, truth: Map<string, string>, mode: ModelMode): string {
  const observed = (promptText.split('<observed>\n')[1] ?? '')
    .split('\n</observed>')[0]!
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string);
  const allowed = (/Allowed answers: (.*)\.$/m.exec(promptText)?.[1] ?? '').split(', ');
  const service = /^Service: (".*")$/m.exec(promptText)?.[1] ?? '""';
  const permitted = (id: string | undefined) => (id !== undefined && allowed.includes(id) ? id : undefined);
  for (const line of observed) {
    const message = line.replace(/^\S+ \S+ \[\w+\] /, '');
    if (mode === 'keyword') {
      const text = `${JSON.parse(service) as string} ${message}`.toLowerCase();
      const hit = allowed.find((id) => id !== 'UNKNOWN' && text.includes(id.split('-')[0]!));
      if (hit) return hit;
    }
    // The quoted line is cut to 500 characters with its prefix: compare on the common part.
    const known = permitted(truth.get(message) ?? [...truth].find(([sample]) => message.length >= 200 && sample.startsWith(message))?.[1]);
    if (known) return known;
    if (mode === 'obey') {
      const forced = allowed.find((id) => id !== 'UNKNOWN' && message.includes(id));
      if (forced) return forced;
    }
  }
  return 'UNKNOWN';
}

function promptOf(messages: unknown): string {
  // The user turn (Ollama's chat format puts the system prompt first, as a message of its own).
  const content = (messages as Array<{ role: string; content: string | Array<{ text?: string }> }>).find((message) => message.role === 'user')!.content;
  return typeof content === 'string' ? content : content.map((part) => part.text ?? '').join('');
}

async function catalogTruth(): Promise<{ truth: Map<string, string>; patterns: readonly Pattern[] }> {
  const catalog = await loadCatalog(CATALOG, { checkScripts: false });
  const truth = new Map<string, string>();
  // The classifier redacts and cuts each line to 500 characters before quoting it.
  // An `absent` signal's sample is a sign of life: the case the classifier sees is the silence.
  for (const pattern of catalog.patterns) {
    for (const sample of pattern.samples.match) truth.set(redactSecrets(sampleSilences(pattern, sample)[0]?.event.message ?? sampleToEvent(sample).message).slice(0, 500), pattern.id);
  }
  return { truth, patterns: catalog.patterns };
}

function casesOf(report: { cases: EvalCase[] }, kind: EvalCase['kind']): EvalCase[] {
  return report.cases.filter((item) => item.kind === kind);
}

describe('fish-sre catalog eval (against the Anthropic protocol test server)', () => {
  let server: AnthropicTestServer;
  let mode: ModelMode = 'exact';
  let patterns: readonly Pattern[] = [];
  beforeAll(async () => {
    const { truth, patterns: loaded } = await catalogTruth();
    patterns = loaded;
    server = await startAnthropicServer({
      apiKey: 'sk-ant-test-key-000000000000',
      script: (request) => {
        const id = modelAnswer(promptOf(request.body?.['messages']), truth, mode);
        const tool = ((request.body?.['tools'] as Array<{ name: string }>) ?? [])[0]!.name;
        return {
          type: 'message' as const,
          message: anthropicMessage({ content: [{ type: 'tool_use', id: 'toolu_01', name: tool, input: { pattern_id: id, reason: 'recognised' } }], inputTokens: 1200, outputTokens: 40 }),
        };
      },
    });
  });
  afterAll(async () => server?.close());

  it(
    'scores samples, near misses, production-path choices and injections through the real Claude provider',
    async () => {
      mode = 'exact';
      server.requests.length = 0;
      const result = await run(['catalog', 'eval', '--provider', 'claude', '--catalog', CATALOG, '--base-url', server.url, '--json'], { ANTHROPIC_API_KEY: 'sk-ant-test-key-000000000000' });
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout);
      const samples = patterns.reduce((total, pattern) => total + pattern.samples.match.length, 0);
      const nearMisses = patterns.reduce((total, pattern) => total + pattern.samples.no_match.length, 0);
      expect(casesOf(report, 'sample')).toHaveLength(samples);
      expect(casesOf(report, 'near-miss')).toHaveLength(nearMisses);
      expect(casesOf(report, 'production')).toHaveLength(samples);
      expect(casesOf(report, 'injection')).toHaveLength(INJECTION_SAMPLES.length);
      expect(report).toMatchObject({ accuracy: 1, nearMissRejected: 1, productionAccuracy: 1, injectionResisted: 1 });
      expect(report.costEur).toBeGreaterThan(0);
      expect(report.latencyP50Ms).toBeGreaterThan(0);
      // The production path offers the model only the candidates whose signals matched: the
      // sample's pattern and two others, never the whole catalog.
      for (const item of casesOf(report, 'production')) {
        const owner = patterns.find((pattern) => pattern.id === item.expected)!;
        expect([...item.candidates!].sort()).toEqual([owner.id, ...productionDistractors(patterns, owner).map((pattern) => pattern.id)].sort());
      }
      const allowedCounts = server.requests.map((request) => (/Allowed answers: (.*)\.$/m.exec(promptOf(request.body?.['messages']))?.[1] ?? '').split(', ').length);
      expect(allowedCounts.filter((count) => count === 4)).toHaveLength(samples);
      expect(allowedCounts.filter((count) => count === patterns.length + 1)).toHaveLength(samples + nearMisses + INJECTION_SAMPLES.length);
    },
    EVAL_TIMEOUT_MS,
  );

  it(
    'counts a near miss given to the pattern it resembles as wrong',
    async () => {
      mode = 'keyword';
      const result = await run(['catalog', 'eval', '--provider', 'claude', '--catalog', CATALOG, '--base-url', server.url, '--json'], { ANTHROPIC_API_KEY: 'sk-ant-test-key-000000000000' });
      const report = JSON.parse(result.stdout);
      const wrong = casesOf(report, 'near-miss').filter((item) => !item.correct);
      expect(wrong.length).toBeGreaterThan(0);
      for (const item of wrong) expect(item.answer).toBe(item.expected);
      expect(report.nearMissRejected).toBeLessThan(1);
      expect(report.nearMissRejected).toBeCloseTo(1 - wrong.length / casesOf(report, 'near-miss').length, 10);
    },
    EVAL_TIMEOUT_MS,
  );

  it(
    'shows a model that follows instructions in logs for what it is',
    async () => {
      mode = 'obey';
      const result = await run(['catalog', 'eval', '--provider', 'claude', '--catalog', CATALOG, '--base-url', server.url], { ANTHROPIC_API_KEY: 'sk-ant-test-key-000000000000' });
      expect(result.stdout).toMatch(/injection lines resisted: +\d+\.\d% \((\d+)\/8\)/);
      const resisted = Number(/injection lines resisted: +[\d.]+% \((\d+)\/8\)/.exec(result.stdout)![1]);
      expect(resisted).toBeLessThan(8);
      expect(result.stdout).toMatch(/near misses rejected: +[\d.]+% \(\d+\/\d+\)/);
      expect(result.stdout).toMatch(/production choices right: +[\d.]+% \(\d+\/\d+\)/);
      expect(result.stdout).toContain('wrong answers:');
      expect(result.stdout).toMatch(/\[injection\] expected UNKNOWN, got /);
    },
    EVAL_TIMEOUT_MS,
  );
});

describe('fish-sre catalog eval (against the Ollama protocol test server)', () => {
  let server: OllamaTestServer;
  let mode: ModelMode = 'exact';
  beforeAll(async () => {
    const { truth } = await catalogTruth();
    server = await startOllamaServer({
      script: (request) => {
        const id = modelAnswer(promptOf(request.body?.['messages']), truth, mode);
        // Structured output: Ollama answers the JSON as a string in message.content.
        return { type: 'answer', answer: { content: JSON.stringify({ pattern_id: id, reason: 'recognised' }), promptEvalCount: 900, evalCount: 30 } };
      },
    });
  });
  afterAll(async () => server?.close());

  it(
    'runs the same cases through the real Ollama provider, with the schema sent as format',
    async () => {
      mode = 'exact';
      const result = await run(['catalog', 'eval', '--provider', 'ollama', '--model', 'llama3.1:8b', '--catalog', CATALOG, '--base-url', server.url, '--json']);
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report).toMatchObject({ provider: 'ollama', model: 'llama3.1:8b', accuracy: 1, nearMissRejected: 1, productionAccuracy: 1, injectionResisted: 1 });
      expect(report.costEur).toBe(0);
      const chat = server.requests.filter((request) => request.path === '/api/chat');
      expect(chat.length).toBe(report.cases.length);
      expect(chat[0]!.body?.['model']).toBe('llama3.1:8b');
      expect((chat[0]!.body!['format'] as { properties: { pattern_id: { enum: string[] } } }).properties.pattern_id.enum).toContain('UNKNOWN');
    },
    EVAL_TIMEOUT_MS,
  );

  it(
    'counts a model that answers with errors as wrong, never as right',
    async () => {
      const failing = await startOllamaServer({ script: () => ({ type: 'error', status: 404, message: 'model "llama3.1:8b" not found, try pulling it first' }) });
      try {
        const result = await run(['catalog', 'eval', '--provider', 'ollama', '--model', 'llama3.1:8b', '--catalog', CATALOG, '--base-url', failing.url, '--json']);
        const report = JSON.parse(result.stdout);
        expect(report.cases.length).toBeGreaterThan(0);
        expect(report.cases.every((item: EvalCase) => item.answer === 'ERROR' && !item.correct && item.error)).toBe(true);
        expect(report).toMatchObject({ accuracy: 0, nearMissRejected: 0, productionAccuracy: 0, injectionResisted: 0 });
      } finally {
        await failing.close();
      }
    },
    EVAL_TIMEOUT_MS,
  );
});
