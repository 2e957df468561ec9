import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

const CHUNK = 16 * 2 ** 20;

/**
 * Which of `needles` occur anywhere in the readable memory of process `pid` (Linux, /proc/PID/mem;
 * the caller must be allowed to trace it, as a parent is). Chunks overlap by the longest needle so
 * a needle across a chunk boundary is found too.
 */
export function findInProcessMemory(pid: number, needles: readonly Uint8Array[]): boolean[] {
  const found = needles.map(() => false);
  const overlap = Math.max(...needles.map((n) => n.byteLength)) - 1;
  const regions = readFileSync(`/proc/${pid}/maps`, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/))
    .filter(([, perms, , , , path]) => perms.startsWith('r') && path !== '[vvar]' && path !== '[vsyscall]' && path !== '[vvar_vclock]')
    .map(([range]) => range.split('-').map((hex) => parseInt(hex, 16)));
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  const buffer = Buffer.alloc(CHUNK + overlap);
  try {
    for (const [start, end] of regions) {
      for (let at = start; at < end; at += CHUNK) {
        const length = Math.min(CHUNK + overlap, end - at);
        let read: number;
        try {
          read = readSync(fd, buffer, 0, length, at);
        } catch {
          break;
        }
        const view = buffer.subarray(0, read);
        needles.forEach((needle, i) => {
          if (!found[i] && view.indexOf(needle) >= 0) found[i] = true;
        });
      }
    }
  } finally {
    closeSync(fd);
  }
  return found;
}
