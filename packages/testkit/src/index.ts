export const VERSION = '0.1.0';
export * from './servers/proxmox.js';
export * from './servers/anthropic.js';
export * from './servers/ollama.js';
export * from './conformance/llm-provider.js';
export { startTestSshd, type TestSshd, type TestSshdOptions } from './sshd.js';
export { testExecutor, type ExecutorConformanceOptions, type ConformanceScripts } from './conformance/executor.js';
