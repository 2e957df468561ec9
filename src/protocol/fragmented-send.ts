import type { WebSocket } from 'ws';

/** Size of the WebSocket fragments a large message is written in: one TLS record's worth. */
export const FRAGMENT_BYTES = 16 * 1024;

/**
 * Writes one binary message as a sequence of fragments, each after the previous was written.
 * Node's TLS layer keeps, per connection, buffers as large as the biggest single write it was
 * handed; writing a model in one piece would leave every connection holding a model's worth of
 * native memory. Callers must not send anything else on the socket until the promise settles
 * (fragments of two messages cannot interleave), so each connection keeps one queue of sends.
 */
export function sendInFragments(socket: WebSocket, bytes: Uint8Array, fragmentBytes: number = FRAGMENT_BYTES): Promise<void> {
  return new Promise((resolve, reject) => {
    let at = 0;
    const next = (error?: Error): void => {
      if (error) return reject(error);
      if (socket.readyState !== socket.OPEN) return resolve();
      if (at >= bytes.byteLength && at > 0) return resolve();
      const end = Math.min(bytes.byteLength, at + fragmentBytes);
      const chunk = bytes.subarray(at, end);
      at = end === at ? end + 1 : end;
      socket.send(chunk, { binary: true, fin: end >= bytes.byteLength }, next);
    };
    next();
  });
}

/** A per-connection queue of sends, so that fragmented messages go out whole and in order. */
export class SendQueue {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly socket: WebSocket) {}

  /** Queues a message; settles once it is written (a closed socket drops it). */
  send(bytes: Uint8Array): Promise<void> {
    const sent = this.tail.then(() => sendInFragments(this.socket, bytes));
    this.tail = sent.catch(() => undefined);
    return sent;
  }

  /** Settles when everything queued so far was written (or dropped with the connection). */
  idle(): Promise<void> {
    return this.tail;
  }
}
