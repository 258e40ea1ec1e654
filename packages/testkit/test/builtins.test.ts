// The reference implementations in @fish-sre/core pass the same conformance suites as every
// plugin package: this file is also the shortest example of calling them.
import { appendFile, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFileSource,
  createLocalExecutor,
  createMemoryAuditStore,
  createTerminalNotifier,
  fileSourcePlugin,
  localExecutorPlugin,
  memoryAuditPlugin,
  terminalNotifierPlugin,
} from '@fish-sre/core';
import { testAuditStore, testExecutor, testNotifier, testPluginDescriptor, testSource, type DeliveredNotification } from '../src/index.js';

testAuditStore({ name: 'memory audit store (core built-in)', createStore: () => createMemoryAuditStore() });

testExecutor({
  name: 'local executor (core built-in)',
  killGraceMs: 3000,
  async setup(scripts) {
    const root = await mkdtemp(join(tmpdir(), 'fish-local-conformance-'));
    for (const script of scripts) {
      await writeFile(join(root, script.script), script.content);
      await chmod(join(root, script.script), 0o755);
    }
    return {
      executor: createLocalExecutor({ scriptsDir: root, sandboxDir: tmpdir(), hosts: ['localhost'], killGraceMs: 1000 }),
      host: 'localhost',
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
});

let logDirectory: string | undefined;
let logFile = '';
testSource({
  name: 'file source (core built-in)',
  async createSource() {
    logDirectory ??= await mkdtemp(join(tmpdir(), 'fish-file-conformance-'));
    logFile = join(logDirectory, `${Date.now()}-${Math.random().toString(36).slice(2)}.jsonl`);
    await writeFile(logFile, '');
    return createFileSource({ path: logFile, follow: true, pollIntervalMs: 25 });
  },
  async createSourceWithPosition(position, restart) {
    logDirectory ??= await mkdtemp(join(tmpdir(), 'fish-file-conformance-'));
    if (!restart) {
      logFile = join(logDirectory, `${Date.now()}-${Math.random().toString(36).slice(2)}.jsonl`);
      await writeFile(logFile, '');
    }
    return createFileSource({ path: logFile, follow: true, pollIntervalMs: 25, startAt: 'end' }, { position });
  },
  async produce({ count, runId }) {
    const markers = Array.from({ length: count }, (_, index) => `${runId}-${String(index).padStart(4, '0')}`);
    await appendFile(logFile, markers.map((marker) => `${JSON.stringify({ message: `conformance ${marker}`, host: 'penny', level: 'error' })}\n`).join(''));
    return markers;
  },
});

const printed: string[] = [];
testNotifier({
  name: 'terminal notifier (core built-in)',
  createNotifier: () => createTerminalNotifier({ write: (text) => printed.push(text), color: false }),
  async inbox(): Promise<DeliveredNotification[]> {
    return printed.map((text) => {
      const lines = text.trim().split('\n');
      return { title: lines[0] ?? '', body: lines.slice(1).join('\n'), urls: text.match(/https?:\/\/\S+/g) ?? [], raw: text };
    });
  },
});

// The built-in plugins' descriptors load through the registry and refuse misspelt options, as every
// plugin package's do.
testPluginDescriptor({ descriptor: fileSourcePlugin, loadByPackageName: false, options: { path: '/var/log/fish/app.jsonl', startAt: 'end' } });
testPluginDescriptor({ descriptor: localExecutorPlugin, loadByPackageName: false, options: { scriptsDir: tmpdir(), sandboxDir: tmpdir() } });
testPluginDescriptor({ descriptor: memoryAuditPlugin, loadByPackageName: false, options: {} });
testPluginDescriptor({ descriptor: terminalNotifierPlugin, loadByPackageName: false, options: { color: false } });
