/**
 * Looking for a data owner's rows in what its node sent. Each row is searched for in the two forms the
 * wire could carry it: its text as in the CSV, and a run of its features as the model reads them
 * (float32, divided by 16 as optdigits is scaled).
 */

/** Each row's text, then its 8 most telling features (the window with the most non-zero values) as float32 / 16; two signatures a row. */
export function rowSignatures(csv: string): Buffer[] {
  return csv
    .trim()
    .split('\n')
    .flatMap((line) => {
      const features = line.split(',').slice(0, 64).map(Number);
      const nonZero = (at: number): number => features.slice(at, at + 8).filter((v) => v !== 0).length;
      let best = 0;
      for (let i = 0; i + 8 <= 64; i++) if (nonZero(i) > nonZero(best)) best = i;
      const window = Buffer.from(Float32Array.from(features.slice(best, best + 8), (v) => v / 16).buffer);
      return [Buffer.from(line), window];
    });
}

/** The signatures found in any of `frames`. */
export function rowsFound(frames: readonly Buffer[], signatures: readonly Buffer[]): Buffer[] {
  return signatures.filter((row) => frames.some((frame) => frame.includes(row)));
}

/**
 * The control: the data as the file and as the model's input, in which the search must find every
 * row's signature (text in the file, features in the input), or a clean result would prove nothing.
 */
export function rowsMissedByControl(csv: string, signatures: readonly Buffer[]): number {
  const file = Buffer.from(csv);
  const inputs = Buffer.from(Float32Array.from(csv.trim().split('\n').flatMap((line) => line.split(',').slice(0, 64).map((v) => Number(v) / 16))).buffer);
  return signatures.filter((row, i) => !(i % 2 === 0 ? file : inputs).includes(row)).length;
}
