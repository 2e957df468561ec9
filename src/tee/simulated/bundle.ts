import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

/** The package's root folder: bundles name their sources relative to it, so the same sources give the same bytes wherever they are installed. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const SOURCE = /^\.\.?\//;

/** Marks the package's own modules (relative imports) free of side effects, so esbuild drops the ones an enclave program does not use. */
const sideEffectFreeSources: Plugin = {
  name: 'side-effect-free-sources',
  setup(build) {
    build.onResolve({ filter: SOURCE }, async (args) => {
      if (args.pluginData === 'resolving') return undefined;
      const result = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'resolving' });
      return result.errors.length > 0 ? undefined : { path: result.path, sideEffects: args.kind === 'entry-point' };
    });
  },
};

/** An enclave program as one file of code, and its measurement. */
export interface EnclaveBundle {
  bytes: Uint8Array;
  /** SHA-384 of the bytes, hex: the simulated enclave's measurement. */
  measurement: string;
}

/** SHA-384 of a bundle's bytes, hex: what a simulated enclave running it attests to. */
export function bundleMeasurement(bytes: Uint8Array): string {
  return createHash('sha384').update(bytes).digest('hex');
}

/**
 * Bundles an enclave program's entry module and everything it imports into one ES module (esbuild),
 * so that the measurement covers every line the enclave runs, not only its entry file.
 */
export async function bundleEnclaveProgram(entry: string): Promise<EnclaveBundle> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [resolve(entry)],
    absWorkingDir: PACKAGE_ROOT,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    sourcemap: false,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
    // The package's sources have no import-time effects: what the program does not use is left out, keeping the measured code small.
    plugins: [sideEffectFreeSources],
    // node_modules may be a link: named by where they are found, the bytes do not depend on where they really lie.
    preserveSymlinks: true,
  });
  const bytes = result.outputFiles[0].contents;
  return { bytes, measurement: bundleMeasurement(bytes) };
}
