import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestSshd, type TestSshd } from '@fish-sre/testkit';

export const WRAPPER_PATH = fileURLToPath(new URL('../../../apps/fish/deploy/fish-wrapper', import.meta.url));

export interface WrapperHost {
  sshd: TestSshd;
  dir: string;
  scriptsDir: string;
  denyLog: string;
  stop(): Promise<void>;
}

/** A real sshd whose client key is forced through the real fish-wrapper, with its own catalog. */
export async function startWrapperHost(options: {
  /** Each script is allowed for its pattern with every verb, unless `verbs` narrows it. */
  scripts: Array<{ patternId: string; script: string; content: string; verbs?: Array<'run' | 'verify' | 'rollback'> }>;
  killGraceSeconds?: number;
  timeoutSeconds?: number;
}): Promise<WrapperHost> {
  const dir = mkdtempSync(join(tmpdir(), 'fish-wrapper-host-'));
  const scriptsDir = join(dir, 'scripts');
  mkdirSync(scriptsDir);
  for (const entry of options.scripts) {
    writeFileSync(join(scriptsDir, entry.script), entry.content);
    chmodSync(join(scriptsDir, entry.script), 0o755);
  }
  const triples = options.scripts.flatMap((s) => (s.verbs ?? ['run', 'verify', 'rollback']).map((verb) => `${s.patternId} ${s.script} ${verb}`));
  writeFileSync(join(dir, 'allow-triples'), `# pattern script verb\n${[...new Set(triples)].join('\n')}\n`);
  const denyLog = join(dir, 'deny.log');
  const sshd = await startTestSshd({
    forcedCommand: WRAPPER_PATH,
    env: {
      FISH_ALLOW_TRIPLES: join(dir, 'allow-triples'),
      FISH_SCRIPTS_DIR: scriptsDir,
      FISH_DENY_LOG: denyLog,
      FISH_KILL_GRACE: String(options.killGraceSeconds ?? 1),
      FISH_TIMEOUT: String(options.timeoutSeconds ?? 120),
    },
  });
  return {
    sshd,
    dir,
    scriptsDir,
    denyLog,
    stop: async () => {
      await sshd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
