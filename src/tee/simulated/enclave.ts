import { spawn, type ChildProcess } from 'node:child_process';
import { EnclaveError } from '../errors.js';
import type { Enclave, EnclaveMessage, EnclaveResources, EnclaveState, EnclaveUsage } from '../enclave.js';
import { deriveSealingKey } from '../sealing.js';
import { bundleMeasurement } from './bundle.js';
import { signSimulatedEvidence } from './evidence.js';
import { loadSimulatedPlatformKey, type SimulatedPlatformKey } from './platform-key.js';
import type { EnclaveReply, HostCall } from './runtime.js';

/** Resources of a simulated enclave unless allocated otherwise. */
export const DEFAULT_SIMULATED_RESOURCES: EnclaveResources = { memoryMb: 512, callTimeoutMs: 120_000 };

/** How a simulated enclave is made. */
export interface SimulatedEnclaveOptions {
  /** The program, one ES module (`bundleEnclaveProgram`); its SHA-384 is the measurement. */
  bundle: Uint8Array;
  /** The platform key that signs its evidence and seeds its sealing key; default: the one under `.cipher-nexus/tee`, made on first use. */
  platform?: SimulatedPlatformKey;
  /** Where the program's own output goes, a line at a time, marked `simulated enclave`; default: this process's stderr. */
  log?: (line: string) => void;
}

type CallBody = HostCall extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;

/**
 * The development backend `simulated`: the enclave is a separate Node process running the bundle, its
 * heap capped with `--max-old-space-size`, with an empty environment and only an IPC channel to its
 * host. It is isolated as a process is from another (the OS, the user and a debugger can read it), not
 * by hardware: its evidence, signed by the local platform key, says `simulated` everywhere.
 */
export class SimulatedEnclave implements Enclave {
  readonly kind = 'simulated' as const;
  readonly measurement: string;
  private current: EnclaveState = 'allocated';
  private limits: EnclaveResources = { ...DEFAULT_SIMULATED_RESOURCES };
  private child: ChildProcess | null = null;
  private readonly platform: SimulatedPlatformKey;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;
  private exited: Error | null = null;

  constructor(private readonly options: SimulatedEnclaveOptions) {
    this.measurement = bundleMeasurement(options.bundle);
    this.platform = options.platform ?? loadSimulatedPlatformKey();
  }

  get state(): EnclaveState {
    return this.current;
  }

  get resources(): EnclaveResources {
    return { ...this.limits };
  }

  /** The process id of the enclave's program, while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  allocate(resources: Partial<EnclaveResources>): void {
    if (this.current !== 'allocated') throw new EnclaveError('TEE_ENCLAVE_STATE', `resources are set before the enclave starts; this one is ${this.current}`);
    const next = { ...this.limits, ...resources };
    if (!Number.isInteger(next.memoryMb) || next.memoryMb < 16 || next.memoryMb > 65_536) throw new EnclaveError('TEE_RESOURCES_INVALID', `an enclave's memory is 16 to 65536 MiB, got ${next.memoryMb}`);
    if (!(next.callTimeoutMs > 0)) throw new EnclaveError('TEE_RESOURCES_INVALID', `an enclave's call timeout is a positive number of ms, got ${next.callTimeoutMs}`);
    this.limits = next;
  }

  async initialise(): Promise<void> {
    if (this.current !== 'allocated') throw new EnclaveError('TEE_ENCLAVE_STATE', `the enclave is ${this.current}; initialise it once`);
    const log = this.options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
    const tag = `simulated enclave ${this.measurement.slice(0, 12)}`;
    // The bundle is handed over on stdin, so the bytes measured are the bytes run (no file to swap in between).
    const child = spawn(process.execPath, [`--max-old-space-size=${this.limits.memoryMb}`, '-'], {
      stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
      env: {},
    });
    this.child = child;
    this.current = 'running';
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = '';
      stream?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) log(`${tag}: ${line}`);
      });
    }
    const ready = new Promise<void>((resolve, reject) => {
      child.once('message', (message: EnclaveReply) => ('ready' in message ? resolve() : reject(new EnclaveError('TEE_ENCLAVE_FAILED', 'the simulated enclave spoke before it was ready'))));
      child.once('exit', (code, signal) => reject(this.exitError(code, signal)));
      child.once('error', reject);
    });
    child.on('exit', (code, signal) => this.onExit(code, signal));
    child.stdin?.end(Buffer.from(this.options.bundle));
    await ready;
    child.on('message', (message: EnclaveReply) => this.onReply(message));
    const secret = this.platformSecret();
    const sealingKey = deriveSealingKey(secret, this.measurement);
    secret.fill(0);
    try {
      await this.call({ call: 'init', measurement: this.measurement, sealingKey });
    } finally {
      sealingKey.fill(0);
    }
  }

  async attest(nonce: Uint8Array, reportData: Uint8Array): Promise<Uint8Array> {
    this.requireRunning();
    return signSimulatedEvidence({ measurement: this.measurement, nonce, reportData, issuedAt: Date.now() }, this.platform);
  }

  async run(request: EnclaveMessage): Promise<EnclaveMessage> {
    return (await this.call({ call: 'run', request })) as EnclaveMessage;
  }

  async seal(state: Uint8Array): Promise<Uint8Array> {
    return (await this.call({ call: 'seal', state })) as Uint8Array;
  }

  async unseal(sealed: Uint8Array): Promise<Uint8Array> {
    return (await this.call({ call: 'unseal', sealed })) as Uint8Array;
  }

  async ping(): Promise<boolean> {
    return (await this.usage()) !== null;
  }

  async usage(): Promise<EnclaveUsage | null> {
    if (this.current !== 'running') return null;
    return this.call({ call: 'ping' }).then(
      (value) => value as EnclaveUsage,
      () => null,
    );
  }

  async destroy(): Promise<void> {
    if (this.current === 'destroyed') return;
    this.current = 'destroyed';
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // The program's memory, with every key and input in it, goes with its process.
    child.kill('SIGKILL');
    await gone;
  }

  private platformSecret(): Uint8Array {
    const d = this.platform.privateKey.export({ format: 'jwk' }).d as string;
    return new Uint8Array(Buffer.from(d, 'base64url'));
  }

  private requireRunning(): ChildProcess {
    if (this.current !== 'running' || !this.child) throw this.exited ?? new EnclaveError('TEE_ENCLAVE_STATE', `the simulated enclave is ${this.current}; initialise it first`);
    return this.child;
  }

  private call(body: CallBody): Promise<unknown> {
    const child = this.requireRunning();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new EnclaveError('TEE_ENCLAVE_TIMEOUT', `the simulated enclave did not answer a '${body.call}' call within ${this.limits.callTimeoutMs} ms; allocate a longer call timeout or more memory`));
      }, this.limits.callTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      child.send({ ...body, id } as HostCall, (error) => {
        if (!error) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new EnclaveError('TEE_ENCLAVE_EXITED', `the simulated enclave cannot be reached: ${error.message}`));
      });
    });
  }

  private onReply(message: EnclaveReply): void {
    if ('ready' in message) return;
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.ok) waiting.resolve(message.value);
    else waiting.reject(new EnclaveError(message.code.startsWith('TEE_') ? (message.code as EnclaveError['code']) : 'TEE_ENCLAVE_FAILED', `simulated enclave: ${message.code}: ${message.message}`, { code: message.code }));
  }

  private exitError(code: number | null, signal: NodeJS.Signals | null): EnclaveError {
    // V8 aborts (SIGABRT, or exit code 134) when the heap ceiling is reached.
    const oom = signal === 'SIGABRT' || code === 134;
    return new EnclaveError(
      'TEE_ENCLAVE_EXITED',
      oom ? `the simulated enclave ran out of its ${this.limits.memoryMb} MiB and stopped; allocate more memory` : `the simulated enclave stopped (${signal ?? `exit code ${code}`})`,
      { code, signal },
    );
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    const error = this.exitError(code, signal);
    this.exited = error;
    if (this.current === 'running') this.current = 'exited';
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
      this.pending.delete(id);
    }
  }
}
