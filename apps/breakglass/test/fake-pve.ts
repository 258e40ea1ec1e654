import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GATE_SCRIPT = new URL('../deploy/breakglass-pve', import.meta.url).pathname;

/**
 * Stand-ins for Proxmox's `qm`, `pvenode` and `journalctl` behind the real forced command
 * (deploy/breakglass-pve) and a real sshd. `qm` keeps the VM state in a file, logs each argv to
 * `qm-calls` and the program that started it to `qm-parents` (the gate must run every qm under
 * `timeout`). Files in the folder switch behaviours: `acpi-ignored` (the guest ignores the ACPI
 * button: shutdown fails after its timeout, like PVE's "VM quit/powerdown failed - got timeout"),
 * `agent-down` (no guest agent), `guest-hostkeys` (what the guest's .pub files hold).
 */
const FAKE_QM = `#!/bin/sh
DIR="$(dirname "$0")"
STATE="$DIR/vm-state"
[ -f "$STATE" ] || echo running > "$STATE"
printf '%s\\n' "$*" >> "$DIR/qm-calls"
PARENT=$(tr '\\000' ' ' < "/proc/$PPID/cmdline" | cut -d' ' -f1)
printf '%s\\n' "\${PARENT##*/}" >> "$DIR/qm-parents"
case "$1" in
  status) echo "status: $(cat "$STATE")"; if [ "\${3:-}" = --verbose ]; then echo "pid: 4242"; fi ;;
  config) echo "memory: 8192"; echo "cores: 4"; echo "name: devvm" ;;
  shutdown)
    if [ -f "$DIR/acpi-ignored" ]; then sleep 1; echo "VM quit/powerdown failed - got timeout" >&2; exit 255; fi
    echo stopped > "$STATE" ;;
  stop) echo stopped > "$STATE" ;;
  start) if [ "$(cat "$STATE")" = running ]; then echo "VM $2 already running" >&2; exit 2; fi; echo running > "$STATE" ;;
  reset) [ "$(cat "$STATE")" = running ] || { echo "VM $2 not running" >&2; exit 2; } ;;
  guest)
    if [ -f "$DIR/agent-down" ]; then echo "QEMU guest agent is not running" >&2; exit 255; fi
    case "$2" in
      cmd) case "$4" in info) echo '{"version": "8.1.3", "supported_commands": []}' ;; esac ;;
      exec) KEYS=$(cat "$DIR/guest-hostkeys" 2>/dev/null | tr '\\n' '|' | sed 's/|/\\\\n/g'); printf '{"exitcode": 0, "exited": 1, "out-data": "%s"}\\n' "$KEYS" ;;
    esac ;;
  *) echo "unknown command" >&2; exit 255 ;;
esac
`;

const FAKE_PVENODE = `#!/bin/sh
echo "UPID:pve1:000A1B2C:0123ABCD:6650A1B2:qmstart:$4:root@pam: qmstart OK"
`;

const FAKE_JOURNALCTL = `#!/bin/sh
echo "2026-12-01T10:00:00+0000 pve1 QEMU[4242]: kvm: terminating on signal 15 from pid 1 (VM $*)"
`;

export interface FakePve {
  dir: string;
  forcedCommand: string;
  qmCalls(): Promise<string[]>;
  qmParents(): Promise<string[]>;
  reset(): Promise<void>;
  set(file: 'vm-state' | 'acpi-ignored' | 'agent-down' | 'guest-hostkeys', content: string | undefined): Promise<void>;
}

export async function createFakePve(options: { shutdownTimeout?: number; stopTimeout?: number } = {}): Promise<FakePve> {
  const dir = await mkdtemp(join(tmpdir(), 'bg-gate-'));
  await writeFile(join(dir, 'qm'), FAKE_QM, { mode: 0o755 });
  await writeFile(join(dir, 'pvenode'), FAKE_PVENODE, { mode: 0o755 });
  await writeFile(join(dir, 'journalctl'), FAKE_JOURNALCTL, { mode: 0o755 });
  const lines = async (name: string) => (await readFile(join(dir, name), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  const { rm } = await import('node:fs/promises');
  return {
    dir,
    forcedCommand: [
      GATE_SCRIPT,
      '--qm',
      join(dir, 'qm'),
      '--pvenode',
      join(dir, 'pvenode'),
      '--journalctl',
      join(dir, 'journalctl'),
      '--log-dir',
      join(dir, 'pve-log'),
      '--shutdown-timeout',
      String(options.shutdownTimeout ?? 3),
      '--stop-timeout',
      String(options.stopTimeout ?? 5),
      '--qm-timeout',
      '10',
      '--forensics-timeout',
      '5',
      '102',
    ].join(' '),
    qmCalls: () => lines('qm-calls'),
    qmParents: () => lines('qm-parents'),
    async reset() {
      await writeFile(join(dir, 'qm-calls'), '');
      await writeFile(join(dir, 'qm-parents'), '');
    },
    async set(file, content) {
      if (content === undefined) await rm(join(dir, file), { force: true });
      else await writeFile(join(dir, file), content);
    },
  };
}
