import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fakeBinDir, scriptsDir } from './load-catalog.js';

const realPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';

/**
 * The argv recorder: every program on the real PATH gets a same-named link to this script, which
 * appends its name and arguments to $FAKE_ARGV_LOG and then runs the real program. Builtins (printf,
 * echo, test) never exec, so they never show in `ps` either: the log is what `ps` could have shown.
 */
const RECORDER = `#!/bin/sh
name=\${0##*/}
printf '%s\\n' "$name $*" >>"\${FAKE_ARGV_LOG:-/dev/null}" 2>/dev/null || :
PATH=$FAKE_REAL_PATH
export PATH
exec "$name" "$@"
`;

let recorderFolder: string | undefined;

/** The recorder folder, made once per test process (and removed when it exits). */
function argvRecorder(): string {
  if (recorderFolder) return recorderFolder;
  const folder = mkdtempSync(join(tmpdir(), 'fish-argv-recorder-'));
  chmodSync(folder, 0o755);
  process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  makeRecorder(folder);
  recorderFolder = folder;
  return folder;
}

function makeRecorder(folder: string): void {
  const recorder = join(folder, '.record-argv');
  writeFileSync(recorder, RECORDER, { mode: 0o755 });
  for (const directory of realPath.split(delimiter)) {
    if (!directory || !existsSync(directory)) continue;
    for (const name of readdirSync(directory)) {
      const link = join(folder, name);
      if (existsSync(link) || name.startsWith('.')) continue;
      try {
        if ((statSync(join(directory, name)).mode & 0o111) === 0) continue;
      } catch {
        continue;
      }
      symlinkSync(recorder, link);
    }
  }
}

export interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** argv of every faked command called during this run, one `tool arg...` string each. */
  calls: string[];
  /** argv of every program the script (or anything it started) executed, one `tool arg...` each. */
  argv: string[];
}

/** One line per entry under a folder: type, mode, owner, links, and content hash or link target. */
export function snapshotTree(root: string): string[] {
  const lines: string[] = [];
  const visit = (path: string): void => {
    const stat = lstatSync(path);
    let detail = '';
    if (stat.isSymbolicLink()) detail = `-> ${readlinkSync(path)}`;
    else if (stat.isFile()) detail = createHash('sha256').update(readFileSync(path)).digest('hex');
    lines.push(`${JSON.stringify(path.slice(root.length))} ${stat.mode.toString(8)} ${stat.uid}:${stat.gid} ${stat.nlink} ${detail}`);
    if (stat.isDirectory()) for (const name of readdirSync(path).sort()) visit(join(path, name));
  };
  visit(root);
  return lines;
}

/**
 * A temporary folder with fake `docker`, `systemctl`, `curl`, `apt-get`, `pvecm`, `dockerd` first
 * on PATH (test/fakebin), each recording its argv and keeping state under `state/`.
 */
export class Sandbox {
  readonly root = mkdtempSync(join(tmpdir(), 'fish-catalog-'));
  readonly state = join(this.root, 'state');
  private readonly log = join(this.root, 'calls.log');
  private readonly argvLog = join(this.root, 'argv.log');
  private readonly recorder = argvRecorder();

  private readonly settings: Record<string, string>;

  /** `settings` gets the sandbox's root folder, so that settings can point inside it. */
  constructor(settings: (root: string) => Record<string, string> = () => ({})) {
    this.settings = settings(this.root);
    mkdirSync(this.state, { recursive: true });
    writeFileSync(this.log, '');
    writeFileSync(this.argvLog, '');
    // Programs run as a container's user (setpriv) record their argv too.
    chmodSync(this.argvLog, 0o666);
    chmodSync(this.root, 0o755);
  }

  /** Gives a file or folder (not following links) to another owner, as a container's files are. */
  own(relative: string, uid: number, gid = uid): string {
    const file = this.path(relative);
    chownSync(file, uid, gid);
    return file;
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

  /** Runs a script with a verb; `pathFirst` puts a folder of extra programs before the fakes. */
  run(script: string, verb: string, extra: { pathFirst?: string; env?: Record<string, string> } = {}): ScriptRun {
    const before = readFileSync(this.log, 'utf8').split('\n').filter(Boolean).length;
    const argvBefore = readFileSync(this.argvLog, 'utf8').split('\n').filter(Boolean).length;
    const result = spawnSync(join(scriptsDir, script), [verb], {
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: `${extra.pathFirst ? `${extra.pathFirst}:` : ''}${fakeBinDir}:${this.recorder}`,
        FAKE_REAL_PATH: realPath,
        FAKE_ARGV_LOG: this.argvLog,
        HOME: this.root,
        FISH_ENV_FILE: this.path('no-such-catalog.env'),
        FISH_VERIFY_ATTEMPTS: '2',
        FISH_VERIFY_DELAY: '0',
        FAKE_STATE: this.state,
        FAKE_LOG: this.log,
        ...this.settings,
        ...extra.env,
      },
    });
    const calls = readFileSync(this.log, 'utf8').split('\n').filter(Boolean).slice(before);
    const argv = readFileSync(this.argvLog, 'utf8').split('\n').filter(Boolean).slice(argvBefore);
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls, argv };
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
