import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { EndToEndFirstSequencer } from './test/support/sequencer.js';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the CPUs, which is a single worker on the 2-core
    // machines CI runs on; two workers took the suite from 1079 s to 819 s there, all green.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    minWorkers: 1,
    // One module cache per worker, not per file: importing TF.js, SEAL, viem and the rest again for each
    // of 230 files was 214 s of collection in a 938 s run; shared, 25 s (776 s in all, 1,839 passed).
    // No test mocks modules; spies and fake timers are restored after each test that makes them.
    isolate: false,
    sequence: { sequencer: EndToEndFirstSequencer },
  },
});
