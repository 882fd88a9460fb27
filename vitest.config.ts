import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Pure-CPU suites that take minutes: started first, side by side, so they never run alone at the end. */
const LONGEST = [
  'packages/tss/test/dkls23/dkg.slow.test.ts',
  'packages/tss/test/dkls23/dkg-tamper.slow.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST.findIndex((suffix) => f.moduleId.endsWith(suffix));
      return i === -1 ? LONGEST.length : i;
    };
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map((x) => x.f);
  }
}

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
    // One PostgreSQL server for the run (the OTC service's storage and flow tests create databases on it).
    globalSetup: ['packages/otc/test/global-postgres.ts'],
    sequence: { sequencer: LongestFirst },
  },
});
