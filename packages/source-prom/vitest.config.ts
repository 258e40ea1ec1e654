import { defineProject } from 'vitest/config';

// Real servers (Prometheus, Alertmanager) and reconnect scenarios need more than vitest's 5 s default.
export default defineProject({ test: { include: ['src/**/*.test.ts', 'test/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 60_000 } });
