import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appDir } from '../paths.js';

/**
 * The demo's target host, as a folder: the compose stack the catalog fix starts, its allow-list,
 * and the local executor's options that run the real catalog scripts there with `docker` stood in
 * by `demo/bin`. Used by `fish-sre demo` and by the tests that run the demo's loop.
 */
export async function prepareDemoSandbox(dataDir: string, catalogDir: string): Promise<{ sandbox: string; executor: { type: 'local'; options: Record<string, unknown> } }> {
  const sandbox = join(dataDir, 'sandbox');
  await mkdir(join(sandbox, 'stacks', 'homepage'), { recursive: true });
  await cp(join(appDir(), 'demo', 'compose.yaml'), join(sandbox, 'stacks', 'homepage', 'compose.yaml'));
  // The script starts only allow-listed stacks, owned by the user it expects (here: whoever runs the demo).
  await writeFile(join(sandbox, 'compose-stacks'), 'homepage\n');
  return {
    sandbox,
    executor: {
      type: 'local',
      options: {
        scriptsDir: join(catalogDir, 'scripts'),
        sandboxDir: sandbox,
        hosts: ['penny'],
        pathPrepend: [join(appDir(), 'demo', 'bin')],
        env: {
          FISH_DEMO_STATE: join(sandbox, 'state'),
          FISH_COMPOSE_DIR: join(sandbox, 'stacks'),
          FISH_COMPOSE_STACKS_FILE: join(sandbox, 'compose-stacks'),
          FISH_COMPOSE_OWNER: String(process.getuid?.() ?? 0),
          FISH_ENV_FILE: join(sandbox, 'no-env-file'),
          FISH_VERIFY_DELAY: '0',
        },
      },
    },
  };
}
