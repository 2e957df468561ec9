/** What one benchmark produces: rows for bench/results/<name>.json and a table for the terminal. */
export interface BenchResult {
  name: string;
  description: string;
  rows: Record<string, unknown>[];
  table: string;
}
