import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fakeBinDir, scriptsDir } from './load-catalog.js';

export interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** argv of every faked command called during this run, one `tool arg...` string each. */
  calls: string[];
}

/**
 * A temporary folder with fake `docker`, `systemctl`, `curl`, `apt-get`, `pvecm`, `dockerd` first
 * on PATH (test/fakebin), each recording its argv and keeping state under `state/`.
 */
export class Sandbox {
  readonly root = mkdtempSync(join(tmpdir(), 'fish-catalog-'));
  readonly state = join(this.root, 'state');
  private readonly log = join(this.root, 'calls.log');

  private readonly settings: Record<string, string>;

  /** `settings` gets the sandbox's root folder, so that settings can point inside it. */
  constructor(settings: (root: string) => Record<string, string> = () => ({})) {
    this.settings = settings(this.root);
    mkdirSync(this.state, { recursive: true });
    writeFileSync(this.log, '');
  }

  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  write(relative: string, content: string): string {
    const file = this.path(relative);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    return file;
  }

  read(relative: string): string {
    return readFileSync(this.path(relative), 'utf8');
  }

  run(script: string, verb: string): ScriptRun {
    const before = readFileSync(this.log, 'utf8').split('\n').filter(Boolean).length;
    const result = spawnSync(join(scriptsDir, script), [verb], {
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: `${fakeBinDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: this.root,
        FISH_ENV_FILE: this.path('no-such-catalog.env'),
        FISH_VERIFY_ATTEMPTS: '2',
        FISH_VERIFY_DELAY: '0',
        FAKE_STATE: this.state,
        FAKE_LOG: this.log,
        ...this.settings,
      },
    });
    const calls = readFileSync(this.log, 'utf8').split('\n').filter(Boolean).slice(before);
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
