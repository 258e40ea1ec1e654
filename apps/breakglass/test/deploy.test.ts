import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type DockerInstruction, lintDockerfile, parseDockerfile } from './dockerfile-lint.js';

const DEPLOY = new URL('../deploy/', import.meta.url).pathname;
const UNITS = ['breakglass.service', 'breakglass-selftest.service', 'breakglass-selftest.timer'];

function which(program: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** `[Section] Key=value` lines of a unit file (continuations and comments aside). */
function unitEntries(text: string): Array<{ section: string; key: string; value: string }> {
  const entries: Array<{ section: string; key: string; value: string }> = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      continue;
    }
    const equals = line.indexOf('=');
    entries.push({ section, key: line.slice(0, equals), value: line.slice(equals + 1) });
  }
  return entries;
}

describe('systemd units', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-units-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const analyze = which('systemd-analyze');

  // systemd-analyze verify checks that ExecStart= exists; the package is not installed globally
  // here, so the copies point at this machine's node (same argv shape, an executable file).
  it(
    analyze
      ? 'pass `systemd-analyze verify` with no warning (ExecStart pointed at this node binary)'
      : 'systemd-analyze is NOT installed here: only the structural checks below ran (install the Debian package systemd)',
    () => {
      expect(analyze, 'systemd-analyze must be installed (.ci/run installs the systemd package)').toBeDefined();
      const paths = UNITS.map((name) => {
        const text = readFileSync(join(DEPLOY, 'systemd', name), 'utf8').replaceAll('/usr/local/bin/breakglass', process.execPath);
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      });
      const result = spawnSync(analyze as string, ['verify', ...paths], { encoding: 'utf8' });
      expect(`${result.stdout}${result.stderr}`.trim()).toBe('');
      expect(result.status).toBe(0);
    },
  );

  it('catch a broken unit (the verify step can fail)', () => {
    if (!analyze) return expect(analyze).toBeDefined();
    const text = readFileSync(join(DEPLOY, 'systemd', 'breakglass.service'), 'utf8')
      .replaceAll('/usr/local/bin/breakglass', process.execPath)
      .replace('ProtectSystem=strict', 'ProtectSystem=stricter');
    writeFileSync(join(dir, 'broken.service'), text);
    const result = spawnSync(analyze, ['verify', join(dir, 'broken.service')], { encoding: 'utf8' });
    expect(result.stderr).toMatch(/protect system value/i);
  });

  it.each(['breakglass.service', 'breakglass-selftest.service'])('%s runs as its own user, read-only system, secrets only through LoadCredential', (name) => {
    const entries = unitEntries(readFileSync(join(DEPLOY, 'systemd', name), 'utf8'));
    const service = (key: string) => entries.filter((entry) => entry.section === 'Service' && entry.key === key).map((entry) => entry.value);
    expect(service('User')).toEqual(['breakglass']);
    expect(service('ProtectSystem')).toEqual(['strict']);
    expect(service('NoNewPrivileges')).toEqual(['yes']);
    expect(service('CapabilityBoundingSet')).toEqual(['']);
    expect(service('StateDirectory')).toEqual(['breakglass']);
    expect(service('LoadCredential').map((value) => value.split(':')[0])).toEqual(expect.arrayContaining(['api-token', 'target-key', 'pve-ssh-key']));
    for (const value of [...service('Environment'), ...service('ExecStart')]) expect(value).not.toMatch(/TOKEN=|SECRET=|API_KEY=|PASSWORD=/i);
  });
});

describe('OCI image', () => {
  const text = readFileSync(join(DEPLOY, 'container', 'Dockerfile'), 'utf8');
  // A runtime counts only when its engine answers (a docker CLI without a daemon cannot build).
  const cli = which('docker') ?? which('podman');
  const runtime = cli !== undefined && spawnSync(cli, ['info'], { encoding: 'utf8', timeout: 20_000 }).status === 0 ? cli : undefined;
  const title = runtime
    ? `builds with ${runtime}, and lints`
    : `no container engine here (${cli ? `${cli} found, but \`${cli} info\` fails: no daemon` : 'docker/podman not found'}): the Dockerfile is linted instead of built`;

  it(title, () => {
    if (runtime) {
      const root = new URL('../../../', import.meta.url).pathname;
      const built = spawnSync(runtime, ['build', '-f', join(DEPLOY, 'container', 'Dockerfile'), '-t', 'breakglass:test', root], { encoding: 'utf8', timeout: 600_000 });
      expect(built.status, built.stderr).toBe(0);
    }
    expect(lintDockerfile(parseDockerfile(text))).toEqual([]);
  }, 620_000);

  const mutate = (from: string, to: string) => lintDockerfile(parseDockerfile(text.replace(from, to))).join('\n');

  it.each<[string, string, string, RegExp]>([
    ['root user', 'USER node', 'USER root', /runs as root/],
    ['no USER', 'USER node\n', '', /no USER/],
    ['unpinned base', 'FROM node:24.11.1-bookworm-slim AS runtime', 'FROM node:latest AS runtime', /not pinned/],
    ['no tag at all', 'FROM node:24.11.1-bookworm-slim AS build', 'FROM node AS build', /not pinned/],
    ['ADD of a URL', 'WORKDIR /app\n', 'WORKDIR /app\nADD https://example.com/x.tgz /tmp/\n', /ADD of a URL/],
    ['no healthcheck', 'HEALTHCHECK --interval', 'LABEL x=y\n#HEALTHCHECK --interval', /no HEALTHCHECK/],
    ['single stage', 'COPY --from=build --chown=root:root /app /app', 'COPY . /app', /multi-stage/],
    ['shell-form entrypoint', 'ENTRYPOINT ["node", "/app/node_modules/@fish-sre/breakglass/dist/cli.js"]', 'ENTRYPOINT node /app/cli.js', /exec form/],
    ['a secret in ENV', 'BREAKGLASS_LOG_FORMAT=json', 'BREAKGLASS_LOG_FORMAT=json BREAKGLASS_API_TOKEN=abc', /secret/],
  ])('the lint catches %s', (_name, from, to, expected) => {
    expect(text).toContain(from);
    expect(mutate(from, to)).toMatch(expected);
  });

  it('parses continuation lines and stages', () => {
    const instructions: DockerInstruction[] = parseDockerfile(text);
    expect(instructions.filter((instruction) => instruction.keyword === 'FROM').map((instruction) => instruction.stage)).toEqual(['build', 'runtime']);
    expect(instructions.find((instruction) => instruction.keyword === 'RUN')?.arguments).toMatch(/npm install .*&& npx turbo run build .*npm pack/);
  });

  it('the compose example runs it read-only, non-root, without capabilities, secrets as files', () => {
    const compose = parseYaml(readFileSync(join(DEPLOY, 'container', 'compose.yaml'), 'utf8')) as { services: Record<string, Record<string, unknown>>; secrets: Record<string, unknown> };
    for (const service of Object.values(compose.services)) {
      expect(service['read_only']).toBe(true);
      expect(service['user']).toMatch(/^[1-9]\d*:[1-9]\d*$/);
      expect(service['cap_drop']).toEqual(['ALL']);
      expect(service['security_opt']).toContain('no-new-privileges:true');
      expect(service['secrets']).toEqual(expect.arrayContaining(['api-token', 'target-key', 'pve-ssh-key']));
      expect(JSON.stringify(service['environment'] ?? {})).not.toMatch(/TOKEN|SECRET|KEY/);
    }
    expect(Object.keys(compose.secrets)).toEqual(expect.arrayContaining(['api-token', 'target-key', 'pve-ssh-key']));
  });
});
