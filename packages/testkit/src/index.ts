export const VERSION = '0.1.0';
export { startTestSshd, type TestSshd, type TestSshdOptions } from './sshd.js';
export { testExecutor, type ExecutorConformanceOptions, type ConformanceScripts } from './conformance/executor.js';
