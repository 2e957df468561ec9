import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EnclaveManager } from '../enclave-manager.js';
import { applyPolicy } from '../policy.js';
import { bundleEnclaveProgram, type EnclaveBundle } from './bundle.js';
import { SimulatedEnclave } from './enclave.js';
import { verifySimulatedEvidence } from './evidence.js';
import { loadSimulatedPlatformKey, type SimulatedPlatformKey } from './platform-key.js';

const runtime = resolve(fileURLToPath(import.meta.url), '..', 'runtime.ts');

describe('simulated enclave', () => {
  let dir: string;
  let platform: SimulatedPlatformKey;
  let echo: EnclaveBundle;
  let other: EnclaveBundle;
  const lines: string[] = [];
  const log = (line: string): void => void lines.push(line);

  /** Bundles a small enclave program written to the test's folder. */
  async function program(name: string, body: string): Promise<EnclaveBundle> {
    const file = join(dir, `${name}.ts`);
    writeFileSync(file, `import { serveEnclaveProgram } from ${JSON.stringify(runtime)};\n${body}\n`);
    return bundleEnclaveProgram(file);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cn-enclave-'));
    platform = loadSimulatedPlatformKey(join(dir, 'tee'));
    echo = await program('echo', `serveEnclaveProgram((request) => { if (request.op === 'grow') { const hold = []; for (;;) hold.push(new Array(1e6).fill(1.5)); } console.log('echo', request.op); return { op: 'echoed', pid: process.pid, keys: Object.keys(process.env).length, value: request.value }; });`);
    other = await program('other', `serveEnclaveProgram(() => ({ op: 'other' }));`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('generates the platform key on first use, private half for its owner only, and loads the same key after', () => {
    const again = loadSimulatedPlatformKey(join(dir, 'tee'));
    expect(platform.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.fingerprint).toBe(platform.fingerprint);
    expect(statSync(join(dir, 'tee', 'platform-key.pem')).mode & 0o777).toBe(0o600);
    expect(existsSync(again.publicKeyFile)).toBe(true);
  });

  it('runs the bundle in its own process with an empty environment, and attests the SHA-384 of the bundle', async () => {
    const enclave = new SimulatedEnclave({ bundle: echo.bytes, platform, log });
    await enclave.initialise();
    try {
      const answer = await enclave.run({ op: 'echo', value: new Uint8Array([1, 2, 3]) });
      expect(answer).toEqual({ op: 'echoed', pid: enclave.pid, keys: 0, value: new Uint8Array([1, 2, 3]) });
      expect(answer.pid).not.toBe(process.pid);
      const evidence = await enclave.attest(new Uint8Array(16).fill(1), new Uint8Array(32).fill(2));
      const verified = applyPolicy(verifySimulatedEvidence(evidence, { at: new Date(), platformKey: platform.publicKey }), {
        allowedMeasurements: [echo.measurement],
        acceptedTcb: ['unknown'],
        nonce: '01'.repeat(16),
        reportData: '02'.repeat(32),
      });
      expect(verified.ok).toBe(true);
      expect(enclave.measurement).toBe(echo.measurement);
      // The program's output arrives on its own pipe, after its answer.
      await vi.waitFor(() => expect(lines).toContain(`simulated enclave ${echo.measurement.slice(0, 12)}: echo echo`));
    } finally {
      await enclave.destroy();
    }
    expect(enclave.state).toBe('destroyed');
  });

  it('seals state that only an enclave of the same bundle on the same platform opens', async () => {
    const [first, second, stranger] = [new SimulatedEnclave({ bundle: echo.bytes, platform, log }), new SimulatedEnclave({ bundle: echo.bytes, platform, log }), new SimulatedEnclave({ bundle: other.bytes, platform, log })];
    await Promise.all([first.initialise(), second.initialise(), stranger.initialise()]);
    try {
      const state = new Uint8Array([5, 4, 3, 2, 1]);
      const sealed = await first.seal(state);
      expect(await second.unseal(sealed)).toEqual(state);
      await expect(stranger.unseal(sealed)).rejects.toMatchObject({ code: 'TEE_UNSEAL_FAILED' });
    } finally {
      await Promise.all([first.destroy(), second.destroy(), stranger.destroy()]);
    }
  });

  it('stops at its memory ceiling and says so', async () => {
    const enclave = new SimulatedEnclave({ bundle: echo.bytes, platform, log });
    enclave.allocate({ memoryMb: 32 });
    await enclave.initialise();
    await expect(enclave.run({ op: 'grow' })).rejects.toMatchObject({ code: 'TEE_ENCLAVE_EXITED', message: expect.stringMatching(/ran out of its 32 MiB/) });
    expect(enclave.state).toBe('exited');
    expect(await enclave.ping()).toBe(false);
    await enclave.destroy();
  });

  it('manager: tracks measurements, resources and health; refuses hardware kinds this machine lacks', async () => {
    const manager = new EnclaveManager();
    await expect(manager.launch({ kind: 'sgx', bundle: echo.bytes })).rejects.toMatchObject({ code: 'TEE_HARDWARE_UNAVAILABLE', message: expect.stringMatching(/this machine does not have/) });
    const { id, enclave } = await manager.launch({ kind: 'simulated', bundle: echo.bytes, platform, log, resources: { memoryMb: 64 } });
    expect(manager.list()).toMatchObject([{ id, kind: 'simulated', measurement: echo.measurement, resources: { memoryMb: 64 }, state: 'running' }]);
    process.kill((enclave as SimulatedEnclave).pid as number, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    expect((await manager.health())[0].state).toBe('exited');
    await manager.destroyAll();
    expect(manager.list()).toEqual([]);
  });
});
