import { defineProject } from 'vitest/config';

// A real PostgreSQL server starts in beforeAll, and a fresh database is created per test.
export default defineProject({ test: { include: ['src/**/*.test.ts', 'test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000 } });
