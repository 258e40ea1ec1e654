import { defineProject } from 'vitest/config';

// The repository's own checks (package shape, release configuration, README config examples).
export default defineProject({ test: { name: 'repository', include: ['*.test.ts'] } });
