import { EnclaveError } from '../errors.js';
import type { EnclaveMessage } from '../enclave.js';
import { sealState, unsealState } from '../sealing.js';

/**
 * The inside of a simulated enclave: the loop a bundled program runs in its child process. It takes
 * calls from its host over the IPC channel (structured clone), keeps the sealing key its platform
 * derived for its measurement, and answers each call with a value or a coded error. It exits when its
 * host goes away, so no enclave outlives the process that started it.
 */

/** What a program inside a simulated enclave is given besides each request. */
export interface EnclaveProgramContext {
  measurement: string;
}

/** The program of an enclave: one request in, one answer out. */
export type EnclaveProgram = (request: EnclaveMessage, context: EnclaveProgramContext) => Promise<EnclaveMessage> | EnclaveMessage;

/** A call from the host. */
export type HostCall =
  | { id: number; call: 'init'; measurement: string; sealingKey: Uint8Array }
  | { id: number; call: 'run'; request: EnclaveMessage }
  | { id: number; call: 'seal'; state: Uint8Array }
  | { id: number; call: 'unseal'; sealed: Uint8Array }
  | { id: number; call: 'ping' };

/** The enclave's answer to a call, or the one-off `ready` once it listens. */
export type EnclaveReply = { ready: true } | { id: number; ok: true; value: unknown } | { id: number; ok: false; code: string; message: string };

/** Runs `program` as this process's enclave program (called once, at the bundle's top level). */
export function serveEnclaveProgram(program: EnclaveProgram): void {
  const send = process.send?.bind(process);
  if (!send) throw new EnclaveError('TEE_ENCLAVE_STATE', 'an enclave program runs only inside an enclave started by its host (no IPC channel)');
  let sealingKey: Uint8Array | null = null;
  let context: EnclaveProgramContext | null = null;
  const requireInit = (): { key: Uint8Array; context: EnclaveProgramContext } => {
    if (!sealingKey || !context) throw new EnclaveError('TEE_ENCLAVE_STATE', 'the enclave was called before it was initialised');
    return { key: sealingKey, context };
  };
  const answer = async (message: HostCall): Promise<unknown> => {
    switch (message.call) {
      case 'init':
        sealingKey = new Uint8Array(message.sealingKey);
        message.sealingKey.fill(0);
        context = { measurement: message.measurement };
        return null;
      case 'run':
        return program(message.request, requireInit().context);
      case 'seal': {
        const { key, context: ctx } = requireInit();
        return sealState(key, ctx.measurement, message.state);
      }
      case 'unseal': {
        const { key, context: ctx } = requireInit();
        return unsealState(key, ctx.measurement, message.sealed);
      }
      case 'ping': {
        const { heapUsed, rss } = process.memoryUsage();
        return { heapUsedBytes: heapUsed, rssBytes: rss };
      }
    }
  };
  process.on('message', (message: HostCall) => {
    answer(message).then(
      (value) => send({ id: message.id, ok: true, value } satisfies EnclaveReply),
      (error: unknown) => {
        const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'TEE_ENCLAVE_FAILED';
        send({ id: message.id, ok: false, code, message: (error as Error).message ?? String(error) } satisfies EnclaveReply);
      },
    );
  });
  process.on('disconnect', () => {
    sealingKey?.fill(0);
    process.exit(0);
  });
  send({ ready: true } satisfies EnclaveReply);
}
