import { Rng } from '../core/index.js';

/** The independent random streams of a job, all derived from its one seed so that a seed replays the job. */
export function jobStreams(seed: number): { partition: Rng; selection: Rng; training: Rng; initSeed: number; adversaries: Rng } {
  const root = new Rng(seed);
  // Drawn in this order so that adding a stream at the end leaves the earlier ones as they were.
  const partition = root.fork();
  const selection = root.fork();
  const training = root.fork();
  const initSeed = root.nextUint32();
  return { partition, selection, training, initSeed, adversaries: root.fork() };
}
