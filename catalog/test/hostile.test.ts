import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scriptsDir } from './load-catalog.js';
import { Sandbox, snapshotTree } from './sandbox.js';

// Every catalog script runs as root (this suite runs as root too) while containers and unprivileged
// users own the folders it works in. Each test lets an attacker prepare those folders (links to
// root-owned files, files owned by another uid, hard links, names with spaces and newlines), runs the
// real script, and checks that nothing outside the attacker's folder changed and nothing ran.

const CONTAINER_UID = 1000;
const OTHER_UID = 2000;
const ROOT_SECRET = 'ROOT-ONLY-SECRET-7f3a';
/** JSON that the openclaw script would rewrite if it ever reached it. */
const ROOT_JSON = '{"tools":{"web":{"fetch":{"readability":true}}},"note":"root-owned"}\n';
const scripts = readdirSync(scriptsDir)
  .filter((name) => name.endsWith('.sh'))
  .sort();

const sandboxes: Sandbox[] = [];
afterEach(() => {
  for (const box of sandboxes.splice(0)) box.remove();
});

/** A sandbox with `outside/`: root-owned files standing for the rest of the host. */
function hostileBox(settings: (root: string) => Record<string, string> = () => ({})): Sandbox & { outside(): string[] } {
  const box = new Sandbox(settings);
  sandboxes.push(box);
  box.write('outside/shadow', `${ROOT_SECRET}\n`);
  box.write('outside/catalog.env', ROOT_JSON);
  box.write('outside/etc/keep', 'keep\n');
  chmodSync(box.path('outside/shadow'), 0o600);
  return Object.assign(box, { outside: () => snapshotTree(box.path('outside')) });
}

describe('settings file (every script)', () => {
  it.each(scripts)('%s refuses a settings file another user owns or a link, and never runs what one holds', (script) => {
    const canary = (box: Sandbox) => box.path('canary');
    const payload = (box: Sandbox) => `FISH_VERIFY_ATTEMPTS=1\nFISH_PROBE="$(touch ${canary(box)})"\nFISH_OTHER=\`touch ${canary(box)}\`\n`;

    const foreign = hostileBox((root) => ({ FISH_ENV_FILE: `${root}/catalog.env` }));
    foreign.write('catalog.env', payload(foreign));
    foreign.own('catalog.env', CONTAINER_UID);
    const refused = foreign.run(script, 'verify');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`refusing settings file ${foreign.path('catalog.env')}`);
    expect(refused.calls).toEqual([]);
    expect(existsSync(canary(foreign))).toBe(false);

    const linked = hostileBox((root) => ({ FISH_ENV_FILE: `${root}/catalog.env` }));
    symlinkSync(linked.path('outside/catalog.env'), linked.path('catalog.env'));
    const viaLink = linked.run(script, 'verify');
    expect(viaLink.status).toBe(1);
    expect(viaLink.stderr).toContain('refusing settings file');

    // Root's own file: read as text, so the command substitutions in it never run.
    const owned = hostileBox((root) => ({ FISH_ENV_FILE: `${root}/catalog.env` }));
    owned.write('catalog.env', payload(owned));
    owned.run(script, 'verify');
    expect(existsSync(canary(owned))).toBe(false);
  });
});

describe('secrets never in argv (every script, every verb)', () => {
  it('no recorded argv of any program any script started holds the test secret or token', () => {
    const secret = 'S3cret-argv-canary';
    const seen: string[] = [];
    for (const script of scripts) {
      for (const verb of ['run', 'verify', 'rollback']) {
        const box = hostileBox((root) => ({
          FISH_BESZEL_APP_URL: 'https://beszel.home.example',
          FISH_BESZEL_CREDENTIALS_FILE: `${root}/beszel-superuser`,
          FISH_ENV_FILE: `${root}/catalog.env`,
        }));
        box.write('catalog.env', 'FISH_BESZEL_URL=http://127.0.0.1:8090\n');
        box.write('beszel-superuser', `fish@home.example\n${secret}\n`);
        box.write('state/beszel-password', secret);
        box.write('state/beszel-app-url', 'http://localhost:8090');
        const run = box.run(script, verb);
        seen.push(...run.argv, ...run.calls);
      }
    }
    // The recorder saw the scripts' programs (jq and curl among them), and none got the secret.
    expect(seen.some((line) => line.startsWith('jq '))).toBe(true);
    expect(seen.some((line) => line.startsWith('curl '))).toBe(true);
    expect(seen.filter((line) => line.includes(secret) || line.includes('tok-fake'))).toEqual([]);
  });
});

describe('openclaw-drop-invalid-keys.sh in a folder the container owns', () => {
  const config = { gateway: { port: 18789 }, tools: { web: { fetch: { enabled: true, readability: true } } } };
  function box(folder = 'openclaw') {
    const b = hostileBox((root) => ({ FISH_OPENCLAW_CONFIG: `${root}/${folder}/openclaw.json`, FISH_BACKUP_DIR: `${root}/backups` }));
    mkdirSync(b.path(folder), { recursive: true });
    b.own(folder, CONTAINER_UID);
    return b;
  }

  it('refuses a config that is a link to a root file, or that another uid owns', () => {
    const linked = box();
    const before = linked.outside();
    symlinkSync(linked.path('outside/catalog.env'), linked.path('openclaw/openclaw.json'));
    for (const verb of ['run', 'rollback']) {
      const run = linked.run('openclaw-drop-invalid-keys.sh', verb);
      expect(run.status, verb).toBe(1);
      expect(run.stderr).toContain('symbolic link');
      expect(run.calls).toEqual([]);
    }
    expect(linked.outside()).toEqual(before);

    const foreign = box();
    foreign.write('openclaw/openclaw.json', JSON.stringify(config));
    foreign.own('openclaw/openclaw.json', OTHER_UID);
    const run = foreign.run('openclaw-drop-invalid-keys.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`belongs to uid ${OTHER_UID}, not ${CONTAINER_UID}`);
    expect(JSON.parse(foreign.read('openclaw/openclaw.json'))).toEqual(config);

    const hard = box();
    linkSync(hard.path('outside/catalog.env'), hard.path('openclaw/openclaw.json'));
    hard.own('openclaw/openclaw.json', CONTAINER_UID);
    const hardRun = hard.run('openclaw-drop-invalid-keys.sh', 'run');
    expect(hardRun.status).toBe(1);
    expect(hardRun.stderr).toContain('hard links');
    expect(hard.read('outside/catalog.env')).toBe(ROOT_JSON);
  });

  it('ignores names planted next to the config (old work and backup names), in a folder with a space and a newline', () => {
    const folder = 'open claw\ndata';
    const b = box(folder);
    b.write(`${folder}/openclaw.json`, JSON.stringify(config));
    b.own(`${folder}/openclaw.json`, CONTAINER_UID);
    symlinkSync(b.path('outside/catalog.env'), b.path(folder, 'openclaw.json.fish-new'));
    symlinkSync(b.path('outside/shadow'), b.path(folder, 'openclaw.json.fish-backup'));
    const before = b.outside();
    const run = b.run('openclaw-drop-invalid-keys.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(b.read(`${folder}/openclaw.json`))).toEqual({ gateway: { port: 18789 }, tools: { web: { fetch: { enabled: true } } } });
    const rollback = b.run('openclaw-drop-invalid-keys.sh', 'rollback');
    expect(rollback.status, rollback.stderr).toBe(0);
    expect(JSON.parse(b.read(`${folder}/openclaw.json`))).toEqual(config);
    expect(b.read(`${folder}/openclaw.json`)).not.toContain(ROOT_SECRET);
    expect(b.outside()).toEqual(before);
  });

  it('a link swapped in while jq runs reaches only what the container user may write', () => {
    const b = box();
    b.write('openclaw/openclaw.json', JSON.stringify(config));
    b.own('openclaw/openclaw.json', CONTAINER_UID);
    // A `jq` first on PATH that, when the rewrite starts, replaces the config by a link to a root file.
    b.write('race/jq', '#!/bin/sh\ncase "$1" in del*) rm -f "$RACE_VICTIM"; ln -s "$RACE_TARGET" "$RACE_VICTIM" ;; esac\nPATH=$FAKE_REAL_PATH exec jq "$@"\n');
    chmodSync(b.path('race/jq'), 0o755);
    const before = b.outside();
    const run = b.run('openclaw-drop-invalid-keys.sh', 'run', {
      pathFirst: b.path('race'),
      env: { RACE_VICTIM: b.path('openclaw/openclaw.json'), RACE_TARGET: b.path('outside/catalog.env') },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`could not write ${b.path('openclaw/openclaw.json')} as uid ${CONTAINER_UID}`);
    expect(run.calls).toEqual([]);
    expect(b.outside()).toEqual(before);
  });
});

describe('data-dir-owners.sh in folders containers own', () => {
  function box() {
    const b = hostileBox((root) => ({ FISH_DATA_DIR_OWNERS_FILE: `${root}/data-dir-owners`, FISH_STEADY_SECONDS: '0' }));
    b.write('data/grafana/grafana.db', 'db');
    b.write('data/grafana/with space', 'x');
    b.write('data/grafana/new\nline', 'x');
    symlinkSync(b.path('outside/shadow'), b.path('data/grafana/link-to-shadow'));
    symlinkSync(b.path('outside/etc'), b.path('data/grafana/link-to-etc'));
    b.write('data-dir-owners', `grafana ${b.path('data/grafana')} 472:0\n`);
    b.write('state/containers/grafana', 'running\n');
    return b;
  }

  it('chowns the folder without following the links in it', () => {
    const b = box();
    const before = b.outside();
    const run = b.run('data-dir-owners.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(statSync(b.path('data/grafana/new\nline')).uid).toBe(472);
    expect(statSync(b.path('data/grafana/with space')).uid).toBe(472);
    expect(b.outside()).toEqual(before);
  });

  it("refuses a hard link to a root file, a folder below another user's folder, and a list someone else owns", () => {
    const hard = box();
    linkSync(hard.path('outside/shadow'), hard.path('data/grafana/hard'));
    const before = snapshotTree(hard.path('outside'));
    const run = hard.run('data-dir-owners.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('hard-linked file');
    expect(run.calls).toEqual([]);
    expect(snapshotTree(hard.path('outside'))).toEqual(before);
    expect(statSync(hard.path('outside/shadow')).uid).toBe(0);

    const below = box();
    below.own('data', OTHER_UID);
    const belowRun = below.run('data-dir-owners.sh', 'run');
    expect(belowRun.status).toBe(1);
    expect(belowRun.stderr).toContain(`a folder above ${below.path('data/grafana')} is not root's alone`);
    expect(statSync(below.path('data/grafana/grafana.db')).uid).toBe(0);

    const list = box();
    list.own('data-dir-owners', OTHER_UID);
    const listRun = list.run('data-dir-owners.sh', 'run');
    expect(listRun.status).toBe(1);
    expect(listRun.stderr).toContain(`refusing ${list.path('data-dir-owners')}`);
    expect(statSync(list.path('data/grafana/grafana.db')).uid).toBe(0);
  });
});

describe('qdrant-snapshots-tmp-reset.sh in a snapshots folder the container owns', () => {
  function box(owner = '') {
    const b = hostileBox((root) => ({ FISH_QDRANT_SNAPSHOTS_DIR: `${root}/qdrant/snapshots`, FISH_QDRANT_OWNER: owner }));
    b.write('qdrant/snapshots/memories/complete.snapshot', 'complete');
    b.write('qdrant/snapshots/tmp/with space.partial', 'x');
    b.write('qdrant/snapshots/tmp/new\nline.partial', 'x');
    mkdirSync(b.path('qdrant/snapshots/tmp/nested'));
    symlinkSync(b.path('outside/shadow'), b.path('qdrant/snapshots/tmp/link-to-shadow'));
    symlinkSync(b.path('outside/etc'), b.path('qdrant/snapshots/tmp/nested/link-to-etc'));
    b.own('qdrant/snapshots', CONTAINER_UID);
    b.write('state/containers/qdrant', 'exited\n');
    return b;
  }

  it('empties tmp, removing links and never what they point to', () => {
    const b = box(`${CONTAINER_UID}:${CONTAINER_UID}`);
    const before = b.outside();
    const run = b.run('qdrant-snapshots-tmp-reset.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(readdirSync(b.path('qdrant/snapshots/tmp'))).toEqual([]);
    expect(run.stdout).toContain('removed 4 entr(y/ies)');
    expect(b.outside()).toEqual(before);
  });

  it('refuses a tmp or snapshots folder that is a link, and a hard link before chown', () => {
    const linked = box();
    const linkedBefore = linked.outside();
    rmSync(linked.path('qdrant/snapshots/tmp'), { recursive: true });
    symlinkSync(linked.path('outside/etc'), linked.path('qdrant/snapshots/tmp'));
    const run = linked.run('qdrant-snapshots-tmp-reset.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('tmp is a symbolic link');
    expect(run.calls).toEqual([]);
    expect(linked.outside()).toEqual(linkedBefore);

    const hard = box(`${CONTAINER_UID}:${CONTAINER_UID}`);
    linkSync(hard.path('outside/shadow'), hard.path('qdrant/snapshots/memories/hard'));
    const hardRun = hard.run('qdrant-snapshots-tmp-reset.sh', 'run');
    expect(hardRun.status).toBe(1);
    expect(hardRun.stderr).toContain('hard-linked file');
    expect(statSync(hard.path('outside/shadow')).uid).toBe(0);
    expect(hardRun.calls).toEqual([]);
  });
});

describe('compose-up-stacks.sh with stack folders someone else controls', () => {
  it("starts no stack whose folder or compose file is a link, another uid's, or group-writable", () => {
    const b = hostileBox((root) => ({ FISH_COMPOSE_DIR: `${root}/stacks`, FISH_COMPOSE_STACKS_FILE: `${root}/compose-stacks` }));
    const compose = 'services:\n  app:\n    image: busybox\n';
    b.write('compose-stacks', 'foreign\nlinked\nfolderlink\nwritable\n');
    b.write('stacks/foreign/compose.yaml', compose);
    b.own('stacks/foreign', CONTAINER_UID);
    b.own('stacks/foreign/compose.yaml', CONTAINER_UID);
    b.write('outside/evil/compose.yaml', compose);
    mkdirSync(b.path('stacks/linked'));
    symlinkSync(b.path('outside/evil/compose.yaml'), b.path('stacks/linked/compose.yaml'));
    symlinkSync(b.path('outside/evil'), b.path('stacks/folderlink'));
    b.write('stacks/writable/compose.yaml', compose);
    chmodSync(b.path('stacks/writable/compose.yaml'), 0o664);
    const before = b.outside();
    const run = b.run('compose-up-stacks.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('no compose stack found');
    for (const stack of ['foreign', 'linked', 'folderlink', 'writable']) expect(run.stderr).toContain(`skipping ${stack}:`);
    expect(run.calls).toEqual([]);
    expect(b.outside()).toEqual(before);

    b.own('compose-stacks', CONTAINER_UID);
    const list = b.run('compose-up-stacks.sh', 'run');
    expect(list.status).toBe(1);
    expect(list.stderr).toContain(`refusing ${b.path('compose-stacks')}`);
  });
});

describe('docker-log-driver-json-file.sh with a configuration folder someone else controls', () => {
  function box() {
    const b = hostileBox((root) => ({ FISH_DOCKER_DAEMON_JSON: `${root}/etc/docker/daemon.json`, FISH_DOCKER_STEADY_SECONDS: '0' }));
    b.write('etc/docker/daemon.json', '{"log-driver":"journald"}\n');
    return b;
  }

  it('refuses a folder another uid owns, a daemon.json link, and a planted backup link', () => {
    const foreign = box();
    foreign.own('etc/docker', OTHER_UID);
    const run = foreign.run('docker-log-driver-json-file.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("is not root's alone");
    expect(run.calls).toEqual([]);

    const linked = box();
    rmSync(linked.path('etc/docker/daemon.json'));
    symlinkSync(linked.path('outside/catalog.env'), linked.path('etc/docker/daemon.json'));
    const before = linked.outside();
    expect(linked.run('docker-log-driver-json-file.sh', 'run').status).toBe(1);
    expect(linked.outside()).toEqual(before);

    const backup = box();
    symlinkSync(backup.path('outside/shadow'), backup.path('etc/docker/daemon.json.fish-backup'));
    for (const verb of ['run', 'rollback']) {
      const result = backup.run('docker-log-driver-json-file.sh', verb);
      expect(result.status, verb).toBe(1);
      expect(result.stderr).toContain('daemon.json.fish-backup is a symbolic link');
    }
    expect(backup.read('etc/docker/daemon.json')).not.toContain(ROOT_SECRET);
  });
});

describe('pve-cluster-restart.sh probe', () => {
  it('never follows a link planted at the old probe name', () => {
    const b = hostileBox((root) => ({ FISH_PVE_DIR: `${root}/pve` }));
    mkdirSync(b.path('pve'));
    symlinkSync(b.path('outside/created-by-root'), b.path('pve/.fish-write-test'));
    const before = b.outside();
    const run = b.run('pve-cluster-restart.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('already writable');
    expect(existsSync(b.path('outside/created-by-root'))).toBe(false);
    expect(b.outside()).toEqual(before);
    expect(readdirSync(b.path('pve'))).toEqual(['.fish-write-test']);
  });
});

describe('beszel-app-url.sh credentials', () => {
  it('refuses a credentials file that is a link to a root file or that another uid owns', () => {
    for (const prepare of [
      (b: Sandbox) => symlinkSync(b.path('outside/shadow'), b.path('beszel-superuser')),
      (b: Sandbox) => {
        writeFileSync(b.path('beszel-superuser'), 'fish@home.example\nx\n');
        b.own('beszel-superuser', CONTAINER_UID);
      },
    ]) {
      const b = hostileBox((root) => ({
        FISH_BESZEL_APP_URL: 'https://beszel.home.example',
        FISH_BESZEL_CREDENTIALS_FILE: `${root}/beszel-superuser`,
      }));
      b.write('state/beszel-app-url', 'http://localhost:8090');
      prepare(b);
      const run = b.run('beszel-app-url.sh', 'run');
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`refusing ${b.path('beszel-superuser')}`);
      expect(run.calls.filter((call) => call.includes('auth-with-password'))).toEqual([]);
      expect(run.argv.join('\n')).not.toContain(ROOT_SECRET);
    }
  });
});

describe('the shared safety functions', () => {
  it('are the same text in every script (one reviewed copy, pasted, since scripts are installed one by one)', () => {
    const blocks = scripts.map((script) => {
      const text = readFileSync(join(scriptsDir, script), 'utf8');
      const start = text.indexOf('# ---- fish common: begin');
      const end = text.indexOf('# ---- fish common: end ----');
      expect(start, script).toBeGreaterThan(0);
      expect(end, script).toBeGreaterThan(start);
      expect(text.indexOf('load_settings\n', end), script).toBeGreaterThan(end);
      // No script sources anything any more.
      expect(text, script).not.toMatch(/^\s*\.\s+"?\$/m);
      return text.slice(start, end);
    });
    expect(new Set(blocks).size).toBe(1);
  });
});
