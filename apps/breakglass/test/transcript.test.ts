import { describe, expect, it } from 'vitest';
import { applyEvent, emptyTranscript, type ServerEvent } from '../web/src/lib/transcript.js';

const event = (seq: number, type: string, body: Record<string, unknown> = {}, turn = 1): ServerEvent => ({ seq, at: '', turn, type, ...body });

describe('UI transcript folding', () => {
  const log: ServerEvent[] = [
    event(1, 'session', { title: 'incident' }, 0),
    event(2, 'prompt', { text: 'disk?', actor: 'viktor' }),
    event(3, 'text', { step: 1, text: 'Check' }),
    event(4, 'text', { step: 1, text: 'ing.' }),
    event(5, 'tool-call', { step: 1, callId: 'c1', toolName: 'run_command', argv: ['rm', '-rf', '/var/log/old'], readOnly: false }),
    event(6, 'tool-approval-needed', { callId: 'c1', argv: ['rm', '-rf', '/var/log/old'] }),
  ];

  it('merges deltas and shows a pending command', () => {
    const transcript = emptyTranscript();
    for (const item of log) applyEvent(transcript, item);
    expect(transcript.title).toBe('incident');
    expect(transcript.running).toBe(true);
    expect(transcript.items.map((item) => item.kind)).toEqual(['user', 'assistant', 'command']);
    expect(transcript.items[1]).toMatchObject({ text: 'Checking.' });
    expect(transcript.items[2]).toMatchObject({ status: 'pending', argv: ['rm', '-rf', '/var/log/old'] });
  });

  it('ignores replayed events, so a reconnect never duplicates text', () => {
    const transcript = emptyTranscript();
    for (const item of log.slice(0, 4)) applyEvent(transcript, item);
    // A replay from an older Last-Event-ID (overlapping) plus new events.
    for (const item of log) applyEvent(transcript, item);
    expect(applyEvent(transcript, log[2]!)).toBe(false);
    expect(transcript.items.filter((item) => item.kind === 'assistant')).toHaveLength(1);
    expect(transcript.items[1]).toMatchObject({ text: 'Checking.' });
  });

  it('records Skip, results, and closes unanswered commands at done', () => {
    const transcript = emptyTranscript();
    for (const item of log) applyEvent(transcript, item);
    applyEvent(transcript, event(7, 'approval', { callId: 'c1', decision: 'skip', actor: 'viktor' }));
    applyEvent(transcript, event(8, 'tool-result', { step: 1, callId: 'c1', toolName: 'run_command', output: 'skipped', isError: true, skipped: true }));
    applyEvent(transcript, event(9, 'tool-call', { step: 2, callId: 'c2', toolName: 'run_command', argv: ['reboot'] }));
    applyEvent(transcript, event(10, 'tool-approval-needed', { callId: 'c2', argv: ['reboot'] }));
    applyEvent(transcript, event(11, 'done', { reason: 'cancelled' }));
    expect(transcript.items.find((item) => item.kind === 'command' && item.callId === 'c1')).toMatchObject({ status: 'skipped', decidedBy: 'viktor' });
    expect(transcript.items.find((item) => item.kind === 'command' && item.callId === 'c2')).toMatchObject({ status: 'not-run' });
    expect(transcript.items.at(-1)).toMatchObject({ kind: 'end', reason: 'cancelled' });
    expect(transcript.running).toBe(false);
  });
});
