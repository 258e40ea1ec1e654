import { existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Sandbox } from './sandbox.js';

const sandboxes: Sandbox[] = [];
function sandboxWith(settings: (root: string) => Record<string, string> = () => ({})): Sandbox {
  const box = new Sandbox(settings);
  sandboxes.push(box);
  return box;
}
afterEach(() => {
  for (const box of sandboxes.splice(0)) box.remove();
});

describe('compose-up-stacks.sh (docker-compose-stopped-post-reboot)', () => {
  function stacksBox(): Sandbox {
    const box = sandboxWith((root) => ({ FISH_COMPOSE_DIR: `${root}/stacks`, FISH_COMPOSE_STACKS_FILE: `${root}/compose-stacks` }));
    box.write('compose-stacks', '# stacks fish may start\nhomepage\nadguard\nuptime\n');
    box.write('stacks/homepage/compose.yaml', 'services:\n  homepage:\n    image: ghcr.io/gethomepage/homepage:v1.2.0\n    restart: unless-stopped\n');
    box.write('stacks/adguard/docker-compose.yml', 'services:\n  adguardhome:\n    image: adguard/adguardhome:v0.107.59\n');
    box.write('state/running/adguard', 'adguardhome\n');
    box.write('stacks/uptime/compose.yaml', 'services:\n  uptime-kuma:\n    image: louislam/uptime-kuma:1\n  # a comment line\n  autoheal:\n    image: willfarrell/autoheal:1.2.0\n');
    box.write('stacks/experiments/compose.yaml', 'services:\n  scratch:\n    image: busybox\n');
    box.write('stacks/notes/README.md', 'not a stack\n');
    return box;
  }

  it('verify fails while a stack is down, run starts only that stack, then verify passes', () => {
    const box = stacksBox();
    const before = box.run('compose-up-stacks.sh', 'verify');
    expect(before.status).toBe(1);
    expect(before.stderr).toContain('homepage:[ homepage ]');
    expect(before.stderr).toContain('uptime:[ uptime-kuma autoheal ]');

    const run = box.run('compose-up-stacks.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    const ups = run.calls.filter((call) => call.includes(' up '));
    expect(ups).toEqual([`docker compose -f ${box.path('stacks/homepage/compose.yaml')} up -d --no-recreate`, `docker compose -f ${box.path('stacks/uptime/compose.yaml')} up -d --no-recreate`]);
    expect(run.calls.some((call) => call.includes('experiments'))).toBe(false);
    expect(run.stdout).toContain('homepage: not running: homepage');

    const verify = box.run('compose-up-stacks.sh', 'verify');
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.calls).toContain(`docker compose -f ${box.path('stacks/homepage/compose.yaml')} ps --services --status running`);

    const again = box.run('compose-up-stacks.sh', 'run');
    expect(again.status).toBe(0);
    expect(again.calls.filter((call) => call.includes(' up '))).toEqual([]);
  });

  it('refuses to run without its stack allow-list (never starts every stack it finds)', () => {
    const box = stacksBox();
    rmSync(box.path('compose-stacks'));
    for (const verb of ['run', 'verify']) {
      const run = box.run('compose-up-stacks.sh', verb);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`no stack allow-list at ${box.path('compose-stacks')}`);
      expect(run.calls).toEqual([]);
    }
  });

  it('honours the allow-list file and fails when compose up fails', () => {
    const box = stacksBox();
    box.write('compose-stacks', '# stacks fish may start\nadguard\n');
    expect(box.run('compose-up-stacks.sh', 'verify').status).toBe(0);
    box.write('compose-stacks', 'homepage\n../etc\n');
    box.write('state/fail-up', '');
    const run = box.run('compose-up-stacks.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("skipping invalid stack name '../etc'");
    expect(run.stderr).toContain('docker compose up failed for: homepage');
  });

  it('refuses rollback and unknown verbs with 64', () => {
    const box = stacksBox();
    expect(box.run('compose-up-stacks.sh', 'rollback').status).toBe(64);
    expect(box.run('compose-up-stacks.sh', 'nonsense').status).toBe(64);
  });
});

describe('beszel-app-url.sh (beszel-oidc-reset)', () => {
  function beszelBox(): Sandbox {
    const box = sandboxWith((root) => ({
      FISH_BESZEL_URL: 'http://127.0.0.1:8090',
      FISH_BESZEL_APP_URL: 'https://beszel.home.example',
      FISH_BESZEL_CREDENTIALS_FILE: `${root}/beszel-superuser`,
    }));
    box.write('beszel-superuser', 'fish@home.example\nS3cret-not-in-argv\n');
    box.write('state/beszel-password', 'S3cret-not-in-argv');
    box.write('state/beszel-app-url', 'http://localhost:8090');
    return box;
  }

  it('sets meta.appURL through the settings API, verifies it, and keeps secrets out of argv', () => {
    const box = beszelBox();
    expect(box.run('beszel-app-url.sh', 'verify').status).toBe(1);
    const run = box.run('beszel-app-url.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(run.calls.some((call) => call.startsWith('curl') && call.includes('-X PATCH') && call.endsWith('/api/settings'))).toBe(true);
    expect(box.read('state/beszel-app-url').trim()).toBe('https://beszel.home.example');
    const verify = box.run('beszel-app-url.sh', 'verify');
    expect(verify.status, verify.stderr).toBe(0);
    const everything = [...run.calls, ...verify.calls, run.stdout, run.stderr, verify.stdout].join('\n');
    expect(everything).not.toContain('S3cret-not-in-argv');
    expect(everything).not.toContain('tok-fake');
    const again = box.run('beszel-app-url.sh', 'run');
    expect(again.stdout).toContain('nothing to do');
    expect(again.calls.some((call) => call.includes('PATCH'))).toBe(false);
  });

  it('fails clearly without the public URL setting', () => {
    const box = sandboxWith();
    const run = box.run('beszel-app-url.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('FISH_BESZEL_APP_URL is not set');
    expect(run.calls).toEqual([]);
    expect(box.run('beszel-app-url.sh', 'rollback').status).toBe(64);
  });
});

describe('pve-cluster-restart.sh (pmxcfs-ro-post-recovery)', () => {
  function pveBox(): Sandbox {
    const box = sandboxWith((root) => ({ FISH_PVE_DIR: `${root}/pve` }));
    // /etc/pve stand-in: a link to a folder that only exists once pve-cluster restarted.
    symlinkSync(box.path('state/pve-target'), box.path('pve'));
    return box;
  }

  it('refuses to restart without quorum', () => {
    const box = pveBox();
    box.write('state/no-quorum', '');
    const run = box.run('pve-cluster-restart.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('not quorate');
    expect(run.calls.some((call) => call.startsWith('systemctl restart'))).toBe(false);
  });

  it('restarts pve-cluster when quorate and read-only, then verifies /etc/pve is writable', () => {
    const box = pveBox();
    expect(box.run('pve-cluster-restart.sh', 'verify').status).toBe(1);
    const run = box.run('pve-cluster-restart.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(run.calls).toEqual(['pvecm status', 'systemctl restart pve-cluster']);
    const verify = box.run('pve-cluster-restart.sh', 'verify');
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.calls).toContain('systemctl is-active --quiet pve-cluster');
    expect(readdirSync(box.path('state/pve-target'))).toEqual([]);
    expect(box.run('pve-cluster-restart.sh', 'run').calls).toEqual([]);
  });
});

describe('docker-log-driver-json-file.sh (dockerd-sigbus-loop)', () => {
  const original = '{\n  "log-driver": "journald",\n  "log-opts": { "tag": "{{.Name}}" },\n  "data-root": "/srv/docker"\n}\n';
  function dockerBox(): Sandbox {
    const box = sandboxWith((root) => ({ FISH_DOCKER_DAEMON_JSON: `${root}/etc/docker/daemon.json`, FISH_DOCKER_STEADY_SECONDS: '0' }));
    box.write('etc/docker/daemon.json', original);
    box.write('state/containers/homepage', 'running\n');
    return box;
  }

  it('switches to json-file keeping other settings, restarts docker, verifies, and rolls back', () => {
    const box = dockerBox();
    expect(box.run('docker-log-driver-json-file.sh', 'verify').status).toBe(1);
    const run = box.run('docker-log-driver-json-file.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(box.read('etc/docker/daemon.json'))).toEqual({
      'log-driver': 'json-file',
      'log-opts': { 'max-size': '10m', 'max-file': '3' },
      'data-root': '/srv/docker',
    });
    expect(box.read('etc/docker/daemon.json.fish-backup')).toBe(original);
    expect(run.calls).toContain('systemctl reset-failed docker.service docker.socket');
    expect(run.calls).toContain('systemctl restart docker');
    expect(run.calls.some((call) => call.startsWith('dockerd --validate --config-file'))).toBe(true);
    expect(run.stdout).toContain('containers still on journald until recreated: homepage');

    const verify = box.run('docker-log-driver-json-file.sh', 'verify');
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.calls).toContain('docker info --format {{.LoggingDriver}}');
    expect(verify.calls).toContain('systemctl show -p NRestarts --value docker');

    box.write('state/crash-loop', '');
    const looping = box.run('docker-log-driver-json-file.sh', 'verify');
    expect(looping.status).toBe(1);
    expect(looping.stderr).toContain('docker restarted during the check');

    const rollback = box.run('docker-log-driver-json-file.sh', 'rollback');
    expect(rollback.status, rollback.stderr).toBe(0);
    expect(box.read('etc/docker/daemon.json')).toBe(original);
    expect(existsSync(box.path('etc/docker/daemon.json.fish-backup'))).toBe(false);
    expect(rollback.calls).toContain('systemctl restart docker');
  });

  it('creates daemon.json when there is none, and rollback removes it', () => {
    const box = sandboxWith((root) => ({ FISH_DOCKER_DAEMON_JSON: `${root}/etc/docker/daemon.json`, FISH_DOCKER_STEADY_SECONDS: '0' }));
    expect(box.run('docker-log-driver-json-file.sh', 'run').status).toBe(0);
    expect(JSON.parse(box.read('etc/docker/daemon.json'))['log-driver']).toBe('json-file');
    expect(box.run('docker-log-driver-json-file.sh', 'rollback').status).toBe(0);
    expect(existsSync(box.path('etc/docker/daemon.json'))).toBe(false);
  });
});

describe('apt-security-upgrade.sh (apt-security-updates-pending)', () => {
  it('upgrades only the security packages and verifies none is left', () => {
    const box = sandboxWith();
    box.write('state/apt-pending', 'libssl3 Debian-Security:12/stable-security\nvim Debian:12.10/stable\nlibsecurity-tools Debian:12.10/stable\nopenssh-server Debian-Security:12/stable-security\n');
    expect(box.run('apt-security-upgrade.sh', 'verify').status).toBe(1);
    const run = box.run('apt-security-upgrade.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    const install = run.calls.find((call) => call.includes(' install '));
    expect(install).toMatch(/ install --only-upgrade libssl3 openssh-server$/);
    expect(install).toContain('Dpkg::Options::=--force-confold');
    expect(run.calls[0]).toMatch(/^apt-get .* update$/);
    expect(box.read('state/apt-pending')).toBe('vim Debian:12.10/stable\nlibsecurity-tools Debian:12.10/stable\n');
    const verify = box.run('apt-security-upgrade.sh', 'verify');
    expect(verify.status, verify.stderr).toBe(0);
    expect(box.run('apt-security-upgrade.sh', 'rollback').status).toBe(64);
  });
});

describe('qdrant-snapshots-tmp-reset.sh (qdrant-snapshot-permission-denied)', () => {
  it('empties snapshots/tmp only, restarts qdrant, verifies the port inside the container', () => {
    const box = sandboxWith((root) => ({ FISH_QDRANT_SNAPSHOTS_DIR: `${root}/qdrant/snapshots` }));
    box.write('qdrant/snapshots/tmp/memories-partial.snapshot', 'partial');
    mkdirSync(box.path('qdrant/snapshots/tmp/stale-dir'));
    box.write('qdrant/snapshots/memories/memories-2026-04-19.snapshot', 'complete');
    box.write('state/containers/qdrant', 'exited\n');
    expect(box.run('qdrant-snapshots-tmp-reset.sh', 'verify').status).toBe(1);
    const run = box.run('qdrant-snapshots-tmp-reset.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(readdirSync(box.path('qdrant/snapshots/tmp'))).toEqual([]);
    expect(box.read('qdrant/snapshots/memories/memories-2026-04-19.snapshot')).toBe('complete');
    expect(run.calls).toEqual(['docker restart qdrant']);
    const verify = box.run('qdrant-snapshots-tmp-reset.sh', 'verify');
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.calls).toContain('docker exec qdrant bash -c :> /dev/tcp/127.0.0.1/6333');
  });

  it('refuses a shallow snapshots path', () => {
    const box = sandboxWith(() => ({ FISH_QDRANT_SNAPSHOTS_DIR: '/' }));
    const run = box.run('qdrant-snapshots-tmp-reset.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.calls).toEqual([]);
  });
});

describe('openclaw-drop-invalid-keys.sh (openclaw-invalid-config-key)', () => {
  const config = { gateway: { port: 18789 }, tools: { web: { fetch: { enabled: true, maxChars: 50000, readability: true } } } };

  /** The data folder and config belong to the container's user (uid 1000), as on a real host. */
  function openclawBox(content: string): Sandbox {
    const box = sandboxWith((root) => ({ FISH_OPENCLAW_CONFIG: `${root}/openclaw/openclaw.json`, FISH_BACKUP_DIR: `${root}/backups` }));
    box.write('openclaw/openclaw.json', content);
    box.own('openclaw', 1000);
    box.own('openclaw/openclaw.json', 1000);
    return box;
  }

  it('removes only the known-invalid key, restarts, verifies, and rolls back', () => {
    const box = openclawBox(JSON.stringify(config));
    box.write('state/containers/openclaw', 'restarting\n');
    const run = box.run('openclaw-drop-invalid-keys.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(box.read('openclaw/openclaw.json'))).toEqual({ gateway: { port: 18789 }, tools: { web: { fetch: { enabled: true, maxChars: 50000 } } } });
    expect(run.calls).toEqual(['docker restart openclaw']);
    // Read and written as the container's user, never as root.
    expect(run.argv.filter((line) => line.startsWith('setpriv '))).toEqual([
      `setpriv --reuid=1000 --regid=1000 --clear-groups -- cat -- ${box.path('openclaw/openclaw.json')}`,
      `setpriv --reuid=1000 --regid=1000 --clear-groups -- tee -- ${box.path('openclaw/openclaw.json')}`,
    ]);
    expect(statSync(box.path('openclaw/openclaw.json')).uid).toBe(1000);
    expect(box.read('backups/openclaw-drop-invalid-keys/openclaw.json')).toBe(JSON.stringify(config));
    const verify = box.run('openclaw-drop-invalid-keys.sh', 'verify');
    expect(verify.status, verify.stderr).toBe(0);
    const rollback = box.run('openclaw-drop-invalid-keys.sh', 'rollback');
    expect(rollback.status, rollback.stderr).toBe(0);
    expect(JSON.parse(box.read('openclaw/openclaw.json'))).toEqual(config);
    expect(existsSync(box.path('backups/openclaw-drop-invalid-keys/openclaw.json'))).toBe(false);
  });

  it('changes nothing and fails when the unrecognized key is not a known-invalid one', () => {
    const text = JSON.stringify({ channels: { telegram: { token: 'x' } } });
    const box = openclawBox(text);
    const run = box.run('openclaw-drop-invalid-keys.sh', 'run');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('needs a human');
    expect(box.read('openclaw/openclaw.json')).toBe(text);
    expect(run.calls).toEqual([]);
  });
});

describe('data-dir-owners.sh (grafana-data-dir-not-writable, loki-data-dir-permission-denied)', () => {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;

  it('fixes only the misowned folder, restarts only its container, then verifies', () => {
    const box = sandboxWith((root) => ({ FISH_DATA_DIR_OWNERS_FILE: `${root}/data-dir-owners`, FISH_STEADY_SECONDS: '0' }));
    box.write('data/grafana/grafana.db', 'db');
    box.write('data/loki/chunks/x', 'chunk');
    // Loki's folder is listed with the owner the files already have; Grafana's with another one.
    box.write('data-dir-owners', `# container folder uid:gid\ngrafana ${box.path('data/grafana')} 472:0\nloki ${box.path('data/loki')} ${uid}:${gid}\n`);
    box.write('state/containers/grafana', 'restarting\n');
    box.write('state/containers/loki', 'running\n');
    const before = box.run('data-dir-owners.sh', 'verify');
    expect(before.status).toBe(1);
    expect(before.stderr).toContain(`${box.path('data/grafana')}:not-owned-by-472:0`);
    const run = box.run('data-dir-owners.sh', 'run');
    expect(run.status, run.stderr).toBe(0);
    expect(run.calls).toEqual(['docker restart grafana']);
    expect(run.stdout).toContain(`${box.path('data/loki')} already owned`);
    const verify = box.run('data-dir-owners.sh', 'verify');
    expect(verify.status, verify.stderr).toBe(0);
    expect(box.run('data-dir-owners.sh', 'run').calls).toEqual([]);
  });

  it('refuses a malformed or dangerous list before touching anything', () => {
    const box = sandboxWith((root) => ({ FISH_DATA_DIR_OWNERS_FILE: `${root}/data-dir-owners` }));
    for (const line of ['grafana / 472:0', 'grafana /opt/data/grafana grafana', 'gra;fana /opt/data/grafana 472:0', 'grafana relative/path 472:0']) {
      box.write('data-dir-owners', `${line}\n`);
      const run = box.run('data-dir-owners.sh', 'run');
      expect(run.status, line).toBe(1);
      expect(run.calls, line).toEqual([]);
    }
    const missing = sandboxWith((root) => ({ FISH_DATA_DIR_OWNERS_FILE: `${root}/none` })).run('data-dir-owners.sh', 'run');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('cannot read');
  });
});
