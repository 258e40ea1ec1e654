import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FishError, FishErrorCode, type LLMProvider, type LLMStreamPart, type Logger, describeError, errorMessage, redactSecrets, silentLogger } from '@fish-sre/core';
import { type SessionEvent, type SessionEventBody, eventsToMessages } from './events.js';
import { AGENT_TOOLS, ToolInputError, planToolCall } from './tools.js';
import type { Trail } from '../trail/trail.js';
import type { InspectVerb } from '../power/verbs.js';
import { type SpendCaps, spendCheck } from './spend.js';

/** Runs an argv on the target VM (SSH in production, the same SSH against a loopback sshd in tests). */
export type CommandRunner = (
  argv: string[],
  options: { timeoutMs: number; signal: AbortSignal },
) => Promise<{ exitCode: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean }>;

export interface SessionManagerOptions {
  provider: LLMProvider;
  runCommand: CommandRunner;
  /** Folder for `sessions/<id>.jsonl`; omitted = memory only (tests). */
  dataDir?: string;
  systemPrompt: string;
  approval: boolean;
  maxConcurrentTurns: number;
  turnTimeoutMs: number;
  maxSteps: number;
  commandTimeoutMs: number;
  outputLimitBytes: number;
  model?: string;
  logger?: Logger;
  /** The hypervisor's read-only views (the `hypervisor` tool); absent = the tool answers that it is not set up. */
  inspectHypervisor?: (view: InspectVerb, signal: AbortSignal) => Promise<{ ok: boolean; output: string }>;
  /** Folders `read_file`/`search_files` read without asking. @default DEFAULT_READ_ROOTS */
  readRoots?: readonly string[];
  /** LLM spend caps in EUR; a turn stops before the call that would start past one. */
  spendCaps?: SpendCaps;
  /** Approved commands and approvals are recorded here. */
  trail?: Trail;
  /** Sees every error from the VM runner (the host-key guard notes a changed key). */
  onCommandError?: (error: unknown) => void;
}

type Waiter = () => void;

interface RunningTurn {
  number: number;
  controller: AbortController;
  approvals: Map<string, (decision: 'run' | 'skip') => void>;
  finished: Promise<void>;
}

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class Session {
  readonly events: SessionEvent[] = [];
  private waiters = new Set<Waiter>();
  private writeChain: Promise<void> = Promise.resolve();
  turnCount = 0;
  running: RunningTurn | undefined;

  constructor(
    readonly id: string,
    private readonly file: string | undefined,
    private readonly logger: Logger,
  ) {}

  get title(): string {
    const first = this.events.find((event) => event.type === 'session');
    return first?.type === 'session' ? first.title : 'session';
  }

  get lastSeq(): number {
    return this.events.at(-1)?.seq ?? 0;
  }

  /** Appends to the log (memory first, then the JSONL file in order) and wakes every attached stream. */
  append(body: SessionEventBody): SessionEvent {
    const event = { ...body, seq: this.lastSeq + 1, at: new Date().toISOString(), turn: this.running?.number ?? this.turnCount } as SessionEvent;
    this.events.push(event);
    if (this.file) {
      const line = `${JSON.stringify(event)}\n`;
      const file = this.file;
      this.writeChain = this.writeChain
        .then(() => appendFile(file, line))
        .catch((error: unknown) => this.logger.error('cannot persist a session event', { session: this.id, error: describeError(error) }));
    }
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
    return event;
  }

  eventsAfter(seq: number): SessionEvent[] {
    // seq n is at index n-1: the log is dense and append-only.
    return this.events.slice(Math.max(0, seq));
  }

  /** Resolves when an event after `seq` exists, after `timeoutMs`, or on abort. */
  waitForEvent(seq: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.lastSeq > seq || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async flush(): Promise<void> {
    await this.writeChain;
  }

  summary() {
    return { id: this.id, title: this.title, running: this.running !== undefined, lastSeq: this.lastSeq, createdAt: this.events[0]?.at, updatedAt: this.events.at(-1)?.at };
  }
}

/**
 * Owns the sessions. A turn runs detached from any HTTP request: a phone that loses signal
 * re-attaches and finds the turn still going (or finished) in the log.
 */
export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly logger: Logger;
  private runningTurns = 0;

  constructor(private readonly options: SessionManagerOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  private sessionFile(id: string): string | undefined {
    return this.options.dataDir ? join(this.options.dataDir, 'sessions', `${id}.jsonl`) : undefined;
  }

  /** Loads persisted transcripts; a turn cut by a restart is closed with `done: interrupted`. */
  async load(): Promise<void> {
    if (!this.options.dataDir) return;
    const folder = join(this.options.dataDir, 'sessions');
    await mkdir(folder, { recursive: true, mode: 0o700 });
    for (const name of await readdir(folder)) {
      const id = name.replace(/\.jsonl$/, '');
      if (!name.endsWith('.jsonl') || !SESSION_ID.test(id)) continue;
      const session = new Session(id, join(folder, name), this.logger);
      const text = await readFile(join(folder, name), 'utf8');
      for (const line of text.split('\n')) {
        if (line.trim().length === 0) continue;
        try {
          const event = JSON.parse(line) as SessionEvent;
          if (event.seq === session.lastSeq + 1) session.events.push(event);
        } catch {
          this.logger.warn('skipping a damaged transcript line', { session: id });
        }
      }
      session.turnCount = session.events.reduce((max, event) => Math.max(max, event.turn), 0);
      const lastTurnEvents = session.events.filter((event) => event.turn === session.turnCount && session.turnCount > 0);
      if (lastTurnEvents.length > 0 && !lastTurnEvents.some((event) => event.type === 'done')) {
        session.append({ type: 'error', message: 'this turn was interrupted: breakglass restarted' });
        session.append({ type: 'done', reason: 'interrupted' });
      }
      this.sessions.set(id, session);
    }
  }

  async create(title: string): Promise<Session> {
    const id = randomUUID();
    const file = this.sessionFile(id);
    if (file) await mkdir(join(this.options.dataDir!, 'sessions'), { recursive: true, mode: 0o700 });
    const session = new Session(id, file, this.logger);
    session.append({ type: 'session', title: title.slice(0, 120) || 'session' });
    this.sessions.set(id, session);
    return session;
  }

  get(id: string): Session | undefined {
    return SESSION_ID.test(id) ? this.sessions.get(id) : undefined;
  }

  list(): ReturnType<Session['summary']>[] {
    return [...this.sessions.values()].map((session) => session.summary()).sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)));
  }

  get activeTurns(): number {
    return this.runningTurns;
  }

  /** Starts a detached turn. Refuses a second turn in the same session and past the global cap. */
  startTurn(session: Session, prompt: string, actor: string): { turn: number; finished: Promise<void> } {
    if (session.running) throw new FishError({ code: FishErrorCode.STATE_TRANSITION_ILLEGAL, message: errorMessage('breakglass', 'a turn is already running in this session; stop it first') });
    if (this.runningTurns >= this.options.maxConcurrentTurns) {
      throw new FishError({
        code: FishErrorCode.BUDGET_EXHAUSTED,
        message: errorMessage('breakglass', `too many turns running (limit ${this.options.maxConcurrentTurns}); wait or stop one`),
        isRetryable: true,
      });
    }
    this.runningTurns += 1;
    session.turnCount += 1;
    const controller = new AbortController();
    const running: RunningTurn = { number: session.turnCount, controller, approvals: new Map(), finished: Promise.resolve() };
    session.running = running;
    session.append({ type: 'prompt', text: prompt, actor });
    const timer = setTimeout(() => controller.abort('timeout'), this.options.turnTimeoutMs);
    running.finished = this.runTurn(session, running)
      .catch((error: unknown) => {
        this.logger.error('turn crashed', { session: session.id, error: describeError(error) });
        session.append({ type: 'error', message: describeError(error) });
        session.append({ type: 'done', reason: 'error' });
      })
      .finally(() => {
        clearTimeout(timer);
        session.running = undefined;
        this.runningTurns -= 1;
      });
    return { turn: running.number, finished: running.finished };
  }

  cancel(session: Session): boolean {
    if (!session.running) return false;
    session.running.controller.abort('cancelled');
    return true;
  }

  /** Records the human's Run/Skip for a pending command. False if nothing is waiting for it. */
  decide(session: Session, callId: string, decision: 'run' | 'skip', actor: string): boolean {
    const resolve = session.running?.approvals.get(callId);
    if (!resolve) return false;
    session.running!.approvals.delete(callId);
    session.append({ type: 'approval', callId, decision, actor });
    resolve(decision);
    return true;
  }

  /** Every session's events (the month's spend is summed over them). */
  allEvents(): Iterable<SessionEvent> {
    const sessions = [...this.sessions.values()];
    return (function* () {
      for (const session of sessions) yield* session.events;
    })();
  }

  /** Ends every running turn (shutdown). */
  async close(): Promise<void> {
    const finishing: Promise<void>[] = [];
    for (const session of this.sessions.values()) {
      if (session.running) {
        session.running.controller.abort('cancelled');
        finishing.push(session.running.finished);
      }
    }
    await Promise.allSettled(finishing);
    await Promise.all([...this.sessions.values()].map((session) => session.flush()));
  }

  private async runTurn(session: Session, turn: RunningTurn): Promise<void> {
    const signal = turn.controller.signal;
    const endReason = () => (signal.reason === 'timeout' ? 'timeout' : 'cancelled');
    for (let step = 1; step <= this.options.maxSteps; step += 1) {
      if (signal.aborted) return this.end(session, endReason());
      if (this.options.spendCaps) {
        const refusal = spendCheck(this.options.spendCaps, session.events, this.allEvents(), new Date());
        if (refusal !== undefined) {
          session.append({ type: 'error', message: refusal });
          return this.end(session, 'budget');
        }
      }
      const calls: Array<{ toolCallId: string; toolName: string; input: unknown }> = [];
      try {
        const stream = this.options.provider.stream({
          system: this.options.systemPrompt,
          messages: eventsToMessages(session.events),
          tools: AGENT_TOOLS,
          signal,
          ...(this.options.model ? { model: this.options.model } : {}),
          maxOutputTokens: 4096,
        });
        for await (const part of abortable(stream, signal)) {
          this.onPart(session, step, part, calls);
        }
      } catch (error) {
        if (signal.aborted) return this.end(session, endReason());
        session.append({ type: 'error', message: describeError(error) });
        return this.end(session, 'error');
      }
      if (signal.aborted) return this.end(session, endReason());
      if (calls.length === 0) return this.end(session, 'stop');
      for (const call of calls) {
        // A repeated id would let one Run answer two commands (and breaks the transcript): refuse the turn.
        if (session.events.some((event) => event.type === 'tool-call' && event.callId === call.toolCallId)) {
          session.append({ type: 'error', message: `refused: the model repeated tool call id ${JSON.stringify(call.toolCallId).slice(0, 80)}; nothing was run` });
          return this.end(session, 'error');
        }
        await this.handleToolCall(session, turn, step, call);
      }
    }
    session.append({ type: 'error', message: `stopped after ${this.options.maxSteps} steps; send another message to go on` });
    return this.end(session, 'max-steps');
  }

  private end(session: Session, reason: 'stop' | 'cancelled' | 'timeout' | 'error' | 'max-steps' | 'budget'): void {
    if (reason === 'timeout') session.append({ type: 'error', message: `turn timed out after ${Math.round(this.options.turnTimeoutMs / 1000)} s` });
    session.append({ type: 'done', reason });
  }

  private onPart(session: Session, step: number, part: LLMStreamPart, calls: Array<{ toolCallId: string; toolName: string; input: unknown }>): void {
    switch (part.type) {
      case 'text-delta':
        if (part.text.length > 0) session.append({ type: 'text', step, text: part.text });
        break;
      case 'tool-call':
        calls.push({ toolCallId: part.toolCallId, toolName: part.toolName, input: part.input });
        break;
      case 'usage':
        session.append({ type: 'usage', inputTokens: part.usage.inputTokens, outputTokens: part.usage.outputTokens, costEur: part.usage.costEur });
        break;
      case 'finish':
        break;
    }
  }

  private async handleToolCall(session: Session, turn: RunningTurn, step: number, call: { toolCallId: string; toolName: string; input: unknown }): Promise<void> {
    const signal = turn.controller.signal;
    const base = { step, callId: call.toolCallId, toolName: call.toolName };
    let plan;
    try {
      plan = planToolCall(call.toolName, call.input, { outputLimitBytes: this.options.outputLimitBytes, ...(this.options.readRoots ? { readRoots: this.options.readRoots } : {}) });
    } catch (error) {
      session.append({ type: 'tool-call', ...base, input: call.input });
      session.append({ type: 'tool-result', ...base, output: error instanceof ToolInputError ? error.message : describeError(error), isError: true });
      return;
    }
    session.append({ type: 'tool-call', ...base, input: call.input, argv: plan.argv, readOnly: plan.readOnly });
    if (signal.aborted) return;
    if (this.options.approval && !plan.readOnly) {
      session.append({ type: 'tool-approval-needed', callId: call.toolCallId, argv: plan.argv });
      const decision = await new Promise<'run' | 'skip' | 'aborted'>((resolve) => {
        const onAbort = () => {
          turn.approvals.delete(call.toolCallId);
          resolve('aborted');
        };
        signal.addEventListener('abort', onAbort, { once: true });
        turn.approvals.set(call.toolCallId, (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        });
      });
      if (decision === 'aborted') return;
      const approval = [...session.events].reverse().find((event) => event.type === 'approval' && event.callId === call.toolCallId);
      await this.record('approval', approval?.type === 'approval' ? approval.actor : 'unknown', { session: session.id, callId: call.toolCallId, argv: plan.argv, decision });
      if (decision === 'skip') {
        session.append({
          type: 'tool-result',
          ...base,
          output: 'The operator chose Skip: this command was not run. Do not retry it unchanged; propose something else or ask.',
          isError: true,
          skipped: true,
        });
        return;
      }
    }
    const timeoutMs = Math.min(plan.timeoutMs ?? this.options.commandTimeoutMs, this.options.turnTimeoutMs);
    if (plan.hypervisorView !== undefined) {
      if (!this.options.inspectHypervisor) {
        session.append({ type: 'tool-result', ...base, output: 'the hypervisor view is not configured here', isError: true });
        return;
      }
      try {
        const view = await this.options.inspectHypervisor(plan.hypervisorView, AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]));
        session.append({ type: 'tool-result', ...base, output: redactOutput(view.output) || '(no output)', isError: !view.ok });
      } catch (error) {
        session.append({ type: 'tool-result', ...base, output: describeError(error), isError: true });
      }
      return;
    }
    try {
      const result = await this.options.runCommand(plan.argv, { timeoutMs, signal });
      if (!plan.readOnly) await this.record('command', 'agent', { session: session.id, callId: call.toolCallId, argv: plan.argv, exitCode: result.exitCode, timedOut: result.timedOut });
      const output = [result.stdout.trimEnd(), result.stderr.trimEnd() ? `[stderr]\n${result.stderr.trimEnd()}` : ''].filter((part) => part.length > 0).join('\n');
      const note = result.timedOut ? `\n[breakglass: timed out after ${Math.round(timeoutMs / 1000)} s]` : '';
      // Output may hold secrets (a config file, an env dump): redacted before it reaches the model or the transcript.
      session.append({ type: 'tool-result', ...base, output: redactOutput(`${output}${note}`) || '(no output)', isError: result.exitCode !== 0, exitCode: result.exitCode });
    } catch (error) {
      this.options.onCommandError?.(error);
      session.append({ type: 'tool-result', ...base, output: describeError(error), isError: true });
    }
  }

  private async record(kind: 'approval' | 'command', actor: string, data: Record<string, unknown>): Promise<void> {
    try {
      await this.options.trail?.append(kind, actor, data);
    } catch (error) {
      this.logger.error('cannot write the trail', { error: describeError(error) });
    }
  }
}

/**
 * core's redactSecrets, plus env-file style names (`DB_PASSWORD=`, `AWS_SECRET_ACCESS_KEY=`,
 * `GITHUB_TOKEN:`) that its word-boundary rule misses after an underscore.
 */
export function redactOutput(text: string): string {
  return redactSecrets(text).replace(
    /\b((?:[A-Za-z0-9]+_)*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|ACCESS_KEY)(?:_[A-Za-z0-9]+)*\s*[:=]\s*"?)[^\s"']+/gi,
    (_match, prefix: string) => `${prefix}[REDACTED]`,
  );
}

/** Iterates `source` but stops at once on abort, even if the source is stuck awaiting the network. */
async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new Error('aborted'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    void iterator.return?.()?.catch?.(() => undefined);
  }
}
