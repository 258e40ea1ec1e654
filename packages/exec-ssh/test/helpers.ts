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
  scripts: Array<{ patternId: string; script: string; content: string }>;
  extraAllowedPatterns?: string[];
  extraAllowedScripts?: string[];
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
  const patterns = [...new Set([...options.scripts.map((s) => s.patternId), ...(options.extraAllowedPatterns ?? [])])];
  const scriptNames = [...new Set([...options.scripts.map((s) => s.script), ...(options.extraAllowedScripts ?? [])])];
  writeFileSync(join(dir, 'allow-list'), `# pattern ids\n${patterns.join('\n')}\n`);
  writeFileSync(join(dir, 'allow-scripts'), `# script names\n${scriptNames.join('\n')}\n`);
  const denyLog = join(dir, 'deny.log');
  const sshd = await startTestSshd({
    forcedCommand: WRAPPER_PATH,
    env: {
      FISH_ALLOW_LIST: join(dir, 'allow-list'),
      FISH_ALLOW_SCRIPTS: join(dir, 'allow-scripts'),
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
