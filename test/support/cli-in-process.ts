import type { Command } from 'commander';
import { vi } from 'vitest';
import { reportError } from '../../src/cli/output.js';

/** What a command printed, and the exit code `cipher-nexus` would have given. */
export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `args` on `program` (built with `exitOverride`, as `buildProgram` does) in this process, as `cipher-nexus` would: its output captured, an error reported as the CLI
 * reports it (one line, its exit code). Faster than a process per command, for tests of one command's behaviour.
 */
export async function runInProcess(program: Command, args: readonly string[]): Promise<CliOutcome> {
  let stdout = '';
  let stderr = '';
  program.configureOutput({ writeErr: (message) => void (stderr += message), writeOut: () => undefined });
  const capture = (stream: NodeJS.WriteStream, append: (text: string) => void): void =>
    void vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      append(String(chunk));
      return true;
    });
  capture(process.stdout, (text) => (stdout += text));
  capture(process.stderr, (text) => (stderr += text));
  let code = 0;
  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (error) {
    code = reportError(error);
  } finally {
    vi.restoreAllMocks();
  }
  return { code, stdout, stderr };
}
