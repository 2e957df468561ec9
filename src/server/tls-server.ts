import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { createServer, type Server } from 'node:https';
import type { RequestListener } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { TLSSocket, TlsOptions } from 'node:tls';

/**
 * The TCP connection seen as a plain stream. Handed to node:tls instead of the socket itself, it
 * makes TLS read from the bytes that arrived rather than straight from the socket handle.
 */
class ConnectionStream extends Duplex {
  constructor(private readonly socket: Socket) {
    // TLS above decides how its side closes; the bytes that came before the peer's FIN are still read.
    super({ allowHalfOpen: true });
    // TLS runs inside these callbacks. Bound to the context the stream is made in (its peer's), what
    // TLS reports from them, such as a refused handshake or a peer that hung up, knows the peer.
    socket.on(
      'data',
      AsyncResource.bind((chunk: Buffer) => {
        if (!this.push(chunk)) socket.pause();
      }),
    );
    socket.on('end', AsyncResource.bind(() => this.push(null)));
    socket.on('error', AsyncResource.bind((error: Error) => this.destroy(error)));
    socket.on(
      'close',
      AsyncResource.bind((hadError: boolean) => {
        if (hadError || this.readableEnded) this.destroy();
        else this.once('end', () => this.destroy());
      }),
    );
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.socket.write(chunk, done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (error?: Error | null) => void): void {
    // TLS hands over several records at once: one write to the socket instead of one per record.
    this.socket.cork();
    chunks.forEach(({ chunk }, i) => (i === chunks.length - 1 ? this.socket.write(chunk, done) : this.socket.write(chunk)));
    this.socket.uncork();
  }

  override _final(done: (error?: Error | null) => void): void {
    if (this.socket.writableEnded) done();
    else this.socket.end(done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.socket.destroy(error ?? undefined);
    done(error);
  }
}

/**
 * An HTTPS server for many long-lived connections. Node's TLS over a TCP handle reads into 64 KiB
 * buffers and keeps two of them per connection once traffic has passed, so a thousand idle
 * participants that each sent a model hold about 128 MiB. Fed through a stream, the TLS layer sizes
 * its buffers by the bytes that actually arrived: about 43 KiB less per connection after a 400 KB
 * upload (measured with 1,000 connections on this machine). Everything else (handshake, client
 * certificate checks, `tlsClientError`, handshake timeout) is node:https's own, except that
 * `closeAllConnections()` also ends connections node:http does not track (mid-handshake, or never sent a request).
 * `admit` sees each TCP connection first; one it refuses is closed at once.
 */
export function createMutualTlsServer(options: TlsOptions, handler: RequestListener, admit: (socket: Socket) => boolean = () => true): Server {
  const server = createServer(options, handler);
  const listeners = server.listeners('connection') as ((socket: unknown) => void)[];
  // The TLS socket made for a connection runs its callbacks in the context it was made in: that is
  // how it learns its peer's address, which a socket over a stream cannot ask the kernel for.
  const peers = new AsyncLocalStorage<Pick<Socket, 'remoteAddress' | 'remotePort' | 'remoteFamily'>>();
  // Every TCP connection, also those still in the handshake or that never sent a request, which
  // node:http does not track: closing all connections must not wait for their timeouts (minutes).
  const connections = new Set<Socket>();
  const closeHttpConnections = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    closeHttpConnections();
    for (const socket of connections) socket.destroy();
  };
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    // Checked before TLS: a peer the firewall denies costs no handshake.
    if (!admit(socket)) {
      socket.destroy();
      return;
    }
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    const peer = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, remoteFamily: socket.remoteFamily };
    peers.run(peer, () => {
      const stream = new ConnectionStream(socket);
      for (const listener of listeners) listener.call(server, stream);
    });
  });
  const withPeer = (socket: TLSSocket): void => {
    const peer = peers.getStore();
    if (peer) for (const [name, value] of Object.entries(peer)) Object.defineProperty(socket, name, { value, enumerable: true });
  };
  server.prependListener('secureConnection', withPeer);
  // A refused handshake is reported with its socket, which must name the peer: it is all an operator learns of it.
  server.prependListener('tlsClientError', (_error: Error, socket: TLSSocket) => withPeer(socket));
  return server;
}
