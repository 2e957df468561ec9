import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A TypeScript entry point in its own Node process (through tsx), its output piped. */
export function nodeProcess(args: string[], cwd: string): ChildProcess {
  return spawn(process.execPath, ['--import', tsx, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Calls `onLine` with each whole line of `stream`. */
export function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffer = '';
  stream.on('data', (d: Buffer) => {
    buffer += d.toString();
    let at: number;
    while ((at = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, at));
      buffer = buffer.slice(at + 1);
    }
  });
}

/** CPU seconds (user + system) a process has used, from /proc; 0 once it has exited. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Resident memory of a process, MiB, from /proc; 0 once it has exited. */
export function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The q-quantile of ascending `sorted` (nearest rank). */
export function quantile(sorted: number[], q: number): number {
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[at];
}

/** Samples a process's peak RSS and last CPU reading every 50 ms until stopped. */
export class ProcessWatch {
  peakRssMb = 0;
  lastCpuSeconds = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly pid: number) {
    this.timer = setInterval(() => {
      this.peakRssMb = Math.max(this.peakRssMb, rssMb(pid));
      this.lastCpuSeconds = Math.max(this.lastCpuSeconds, cpuSeconds(pid));
    }, 50);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
