import { setFlagsFromString } from 'node:v8';

/**
 * Lets V8's old generation double between full collections, for a process whose heap is mostly code (about 100 MB:
 * TF.js, the protocol stacks) while its models pass through as buffers outside it. V8 sizes the old generation by how
 * fast JavaScript allocates, judged such a process slow, and let it grow only about a quarter between full
 * collections, so a round of 1,000 updates paid many marks of that heap, on helper threads too. Measured for a
 * coordinator (`serve`: a quarter less CPU per update at the same peak RSS) and for the network bench's simulated
 * participants; a load that allocates fast in JavaScript gets more full collections under it, so it is not for every
 * process. Process-wide: it overrides `--heap-growing-percent` given on node's command line.
 */
export function growHeapForBufferTraffic(): void {
  setFlagsFromString('--heap-growing-percent=100');
}
