import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const main = join(root, 'src', 'cli', 'main.ts');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The project's optdigits folder. */
export const OPTDIGITS = join(root, 'data', 'optdigits');

/** A `cipher-nexus` process of a test: its output so far and its exit code. */
export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number>;
}

/** Runs the CLI from source in its own process (as a user runs `cipher-nexus`). */
export function runCli(args: string[], cwd: string): CliProcess {
  const child = spawn(process.execPath, ['--import', tsx, main, ...args], { cwd, env: { ...process.env, CIPHER_NEXUS_DEBUG: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exit = new Promise<number>((done) => child.on('exit', (code, signal) => done(code ?? (signal ? 128 : -1))));
  return { child, output: () => text, exit };
}

/** Splits optdigits' training file into one private CSV per participant (round-robin rows). */
export function writeParticipantData(dir: string, participants: readonly string[]): Map<string, string> {
  const rows = readFileSync(join(OPTDIGITS, 'optdigits.tra'), 'utf8').trim().split('\n');
  const files = new Map<string, string>();
  participants.forEach((id, k) => {
    const file = join(dir, `${id}.csv`);
    writeFileSync(file, rows.filter((_, i) => i % participants.length === k).join('\n') + '\n');
    files.set(id, file);
  });
  return files;
}

/** A development chain of `cipher-nexus chain serve` in its own process, its endpoint, and how to stop it. */
export interface ChainServe {
  process: CliProcess;
  rpc: string;
  stop: () => Promise<void>;
}

/** Starts `chain serve` on a free port with `accounts` funded development accounts, saving its deployment to `deployment`. */
export async function startChainServe(dir: string, deployment: string, accounts: number): Promise<ChainServe> {
  const chain = runCli(['--deployment', deployment, 'chain', 'serve', '--port', '0', '--accounts', String(accounts)], dir);
  const rpc = await new Promise<string>((done, fail) => {
    const poll = setInterval(() => {
      const match = /at (http:\/\/127\.0\.0\.1:\d+) /.exec(chain.output());
      if (match && chain.output().includes('stop with Ctrl-C')) {
        clearInterval(poll);
        done(match[1]);
      }
    }, 50);
    void chain.exit.then((code) => {
      clearInterval(poll);
      fail(new Error(`chain serve exited with ${code}: ${chain.output()}`));
    });
  });
  const stop = async (): Promise<void> => {
    if (chain.child.exitCode !== null) return;
    chain.child.kill('SIGTERM');
    await chain.exit;
  };
  return { process: chain, rpc, stop };
}
