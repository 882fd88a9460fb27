import { defineConfig } from 'vitest/config';

// One run covers every workspace package; slow suites are named *.slow.test.ts and still run here.
export default defineConfig({
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'signer-node/test/**/*.test.ts',
      'hsm/test/**/*.test.ts',
      'test-vectors/**/*.test.ts',
      'scripts/**/*.test.ts',
      'policy/test/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
