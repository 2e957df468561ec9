/**
 * The generated folder of contract artefacts (generated/contracts/, built by `npm run
 * build:contracts`, never checked in) and its manifest: the hash of the sources it was compiled
 * from and the sha256 of every file written, so a stale or hand-edited folder is caught.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceHash } from './compiler.js';

/** generated/contracts/ at the package root: the same path from src/chain/ and from dist/chain/. */
export const ARTIFACTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../generated/contracts');
/** The manifest's file name inside {@link ARTIFACTS_DIR}. */
export const MANIFEST_FILE = 'manifest.json';

/** What the build records beside the artefacts. */
export interface ArtifactsManifest {
  /** {@link sourceHash} of the inputs the artefacts were compiled from. */
  sourceHash: string;
  solcVersion: string;
  /** sha256 (hex) of each generated file, by file name. */
  files: Record<string, string>;
}

/** sha256 (hex) of a file's bytes. */
export function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Reads the manifest, or undefined when the folder has not been built. */
export function readManifest(dir: string = ARTIFACTS_DIR): ArtifactsManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as ArtifactsManifest;
  } catch {
    return undefined;
  }
}

/**
 * Why the generated folder does not match contracts/ (missing, built from other sources, a file
 * edited or deleted), or undefined when it does.
 */
export function artifactsProblem(dir: string = ARTIFACTS_DIR, expectedSourceHash: string = sourceHash()): string | undefined {
  const manifest = readManifest(dir);
  if (!manifest) return `${dir} has no ${MANIFEST_FILE}: run npm run build:contracts`;
  if (manifest.sourceHash !== expectedSourceHash) return `${dir} was built from other contracts/ sources, compiler or settings: run npm run build:contracts`;
  for (const [file, hash] of Object.entries(manifest.files)) {
    let actual: string;
    try {
      actual = fileHash(join(dir, file));
    } catch {
      return `${join(dir, file)} is missing: run npm run build:contracts -- --force`;
    }
    if (actual !== hash) return `${join(dir, file)} differs from what the build wrote: run npm run build:contracts -- --force`;
  }
  return undefined;
}
