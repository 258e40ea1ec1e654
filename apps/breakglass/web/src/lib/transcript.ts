/**
 * Folds the server's session events into what the chat shows. Events carry a dense `seq`; any
 * event at or below the last applied one is ignored, so a replay after a reconnect never
 * duplicates text.
 */

export interface ServerEvent {
  seq: number;
  at: string;
  turn: number;
  type: string;
  [key: string]: unknown;
}

export type CommandStatus = 'running' | 'pending' | 'skipped' | 'done' | 'failed' | 'not-run';

export type Item =
  | { kind: 'user'; key: string; text: string; actor: string }
  | { kind: 'assistant'; key: string; text: string; turn: number; step: number }
  | {
      kind: 'command';
      key: string;
      callId: string;
      toolName: string;
      argv: string[];
      readOnly: boolean;
      status: CommandStatus;
      output: string;
      exitCode: number | null | undefined;
      decidedBy?: string;
    }
  | { kind: 'error'; key: string; message: string }
  | { kind: 'end'; key: string; reason: string };

export interface Transcript {
  title: string;
  items: Item[];
  lastSeq: number;
  running: boolean;
  inputTokens: number;
  outputTokens: number;
  costEur: number;
}

export function emptyTranscript(): Transcript {
  return { title: '', items: [], lastSeq: 0, running: false, inputTokens: 0, outputTokens: 0, costEur: 0 };
}

const str = (value: unknown): string => (typeof value === 'string' ? value : '');

function commandFor(transcript: Transcript, callId: string) {
  return transcript.items.find((item): item is Extract<Item, { kind: 'command' }> => item.kind === 'command' && item.callId === callId);
}

/** Applies one event in place; returns false when it was a duplicate (already applied). */
export function applyEvent(transcript: Transcript, event: ServerEvent): boolean {
  if (typeof event.seq !== 'number' || event.seq <= transcript.lastSeq) return false;
  transcript.lastSeq = event.seq;
  const key = `e${event.seq}`;
  switch (event.type) {
    case 'session':
      transcript.title = str(event['title']);
      break;
    case 'prompt':
      transcript.items.push({ kind: 'user', key, text: str(event['text']), actor: str(event['actor']) });
      transcript.running = true;
      break;
    case 'text': {
      const step = Number(event['step']);
      const last = transcript.items.at(-1);
      if (last && last.kind === 'assistant' && last.turn === event.turn && last.step === step) last.text += str(event['text']);
      else transcript.items.push({ kind: 'assistant', key, text: str(event['text']), turn: event.turn, step });
      break;
    }
    case 'tool-call':
      transcript.items.push({
        kind: 'command',
        key,
        callId: str(event['callId']),
        toolName: str(event['toolName']),
        argv: Array.isArray(event['argv']) ? (event['argv'] as string[]) : [],
        readOnly: event['readOnly'] === true,
        status: 'running',
        output: '',
        exitCode: undefined,
      });
      break;
    case 'tool-approval-needed': {
      const command = commandFor(transcript, str(event['callId']));
      if (command) command.status = 'pending';
      break;
    }
    case 'approval': {
      const command = commandFor(transcript, str(event['callId']));
      if (command) {
        command.status = event['decision'] === 'run' ? 'running' : 'skipped';
        command.decidedBy = str(event['actor']);
      }
      break;
    }
    case 'tool-result': {
      const command = commandFor(transcript, str(event['callId']));
      if (command) {
        command.output = str(event['output']);
        command.exitCode = event['exitCode'] as number | null | undefined;
        command.status = event['skipped'] === true ? 'skipped' : event['isError'] === true ? 'failed' : 'done';
      }
      break;
    }
    case 'usage':
      transcript.inputTokens += Number(event['inputTokens']) || 0;
      transcript.outputTokens += Number(event['outputTokens']) || 0;
      transcript.costEur += Number(event['costEur']) || 0;
      break;
    case 'error':
      transcript.items.push({ kind: 'error', key, message: str(event['message']) });
      break;
    case 'done': {
      transcript.running = false;
      for (const item of transcript.items) {
        if (item.kind === 'command' && (item.status === 'pending' || item.status === 'running')) item.status = 'not-run';
      }
      const reason = str(event['reason']);
      if (reason !== 'stop') transcript.items.push({ kind: 'end', key, reason });
      break;
    }
    default:
      break;
  }
  return true;
}

export const PRESETS: Array<{ id: string; label: string; prompt: string }> = [
  {
    id: 'triage',
    label: 'Triage',
    prompt: 'Triage the VM: is it up, and what is failing? Check uptime and load, memory, disk, failed units and recent errors, then tell me the most likely cause and the fix.',
  },
  {
    id: 'memory',
    label: 'Memory / OOM',
    prompt: 'Check for memory pressure and OOM kills: free -m, /proc/pressure/memory, the kernel log and the journal for oom-killer, and the top memory consumers. What was killed and why?',
  },
  { id: 'disk', label: 'Disk', prompt: 'Check disk space and inodes (df -h, df -i). For the fullest filesystem, find what is filling it (journal, docker, logs) and propose the safest cleanup.' },
  { id: 'services', label: 'Services', prompt: 'List failed systemd units and check the key services: status and the last journal lines of each failure. Propose the fix.' },
  {
    id: 'qemu',
    label: 'QEMU wedged',
    prompt: 'The VM may be wedged (SSH hangs, QEMU stuck). Try to reach it. If it does not answer, tell me whether to use cycle or reset from the VM controls, and what to look at after it is back.',
  },
];
