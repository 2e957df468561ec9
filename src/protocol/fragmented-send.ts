import type { WebSocket } from 'ws';
import { InvalidInputError } from '../core/errors.js';

/**
 * Size of the WebSocket fragments a large message is written in. Larger fragments cost less CPU (a 400 KB model sent
 * to 1,000 TLS connections: 0.78-0.92 ms per send in 16 KiB fragments, 0.59-0.76 ms in 32 KiB, on 2 cores) but
 * grow every connection's TLS buffers: at 32 KiB the 1,000-participant network bench peaked 35-60 MB higher (521-562
 * against 486-503 MiB), past 1.5 times the 100-participant run, so fragments stay at one TLS record's worth.
 */
export const FRAGMENT_BYTES = 16 * 1024;

/**
 * Fragment size for a participant's one connection, where a large TLS buffer costs one model's
 * worth, not a thousand: an update goes out as one WebSocket frame, which the coordinator reads
 * into one buffer instead of copying each fragment and then joining them (per update, per round).
 */
export const PARTICIPANT_FRAGMENT_BYTES = 64 * 2 ** 20;

/**
 * Writes one binary message, given whole or as consecutive parts, as a sequence of fragments, each
 * after the previous was written. Node's TLS layer keeps, per connection, buffers as large as the
 * biggest single write it was handed; writing a model in one piece would leave every connection
 * holding a model's worth of native memory. Callers must not send anything else on the socket until
 * the promise settles (fragments of two messages cannot interleave), so each connection keeps one
 * queue of sends. The parts are sent from where they lie: they must not change until it settles.
 */
export function sendInFragments(socket: WebSocket, message: Uint8Array | readonly Uint8Array[], fragmentBytes: number = FRAGMENT_BYTES): Promise<void> {
  if (!Number.isInteger(fragmentBytes) || fragmentBytes < 1) {
    return Promise.reject(new InvalidInputError('FRAGMENT_SIZE_INVALID', `fragments must be a whole number of bytes, at least 1; got ${fragmentBytes}`));
  }
  const fragments: Uint8Array[] = [];
  for (const part of message instanceof Uint8Array ? [message] : message) {
    for (let at = 0; at < part.byteLength; at += fragmentBytes) fragments.push(part.subarray(at, Math.min(part.byteLength, at + fragmentBytes)));
  }
  // An empty message is still one (final) frame.
  if (fragments.length === 0) fragments.push(new Uint8Array(0));
  return new Promise((resolve, reject) => {
    let next = 0;
    const step = (error?: Error): void => {
      if (error) return reject(error);
      if (socket.readyState !== socket.OPEN || next >= fragments.length) return resolve();
      const fragment = fragments[next++];
      socket.send(fragment, { binary: true, fin: next === fragments.length }, step);
    };
    step();
  });
}

/** A message whole or as consecutive parts. */
export type Outgoing = Uint8Array | readonly Uint8Array[];

/** A per-connection queue of sends, so that fragmented messages go out whole and in order. */
export class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  /** `observe`, when given, sees each message whole as it is queued (a participant's opt-in wire log). */
  constructor(
    private readonly socket: WebSocket,
    private readonly observe?: (message: Uint8Array) => void,
    private readonly fragmentBytes: number = FRAGMENT_BYTES,
  ) {}

  /**
   * Queues a message (whole or as parts); settles once it is written (a closed socket drops it). Given a function,
   * the queue makes the message when its turn comes: a signed frame made then carries the time it leaves, not the
   * time it was queued, so a frame that waited behind a large update is not refused as stale.
   */
  send(message: Outgoing | (() => Outgoing)): Promise<void> {
    this.waiting++;
    const sent = this.tail
      .then(() => {
        const made = typeof message === 'function' ? message() : message;
        if (this.observe) this.observe(made instanceof Uint8Array ? made : Buffer.concat(made));
        return sendInFragments(this.socket, made, this.fragmentBytes);
      })
      .finally(() => this.waiting--);
    this.tail = sent.catch(() => undefined);
    return sent;
  }

  /** Messages queued or being written and not yet settled. */
  get pending(): number {
    return this.waiting;
  }

  /** Settles when everything queued so far was written (or dropped with the connection). */
  idle(): Promise<void> {
    return this.tail;
  }
}
