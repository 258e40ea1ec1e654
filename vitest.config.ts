import { defineConfig } from 'vitest/config';

// One vitest run over every package (each package's vitest.config.ts is a project), so that the
// whole suite prints one summary. The JSON report is what .ci/run sums into "N passed, N failed".
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'catalog', 'examples/*', 'scripts'],
    reporters: ['default', ['json', { outputFile: 'test-artifacts/vitest-report.json' }]],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Real servers (sshd, Prometheus, Chromium) start in some suites: two cores, so stay modest.
    maxWorkers: 2,
  },
});
