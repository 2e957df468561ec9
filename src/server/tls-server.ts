import { createServer, type Server } from 'node:https';
import type { RequestListener } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket, TlsOptions } from 'node:tls';

/**
 * An HTTPS server for many long-lived connections: node:https's own handshake, client-certificate
 * checks, `tlsClientError` and handshake timeout, with two additions. `admit` sees each TCP
 * connection first; one it refuses is closed before any TLS work. `closeAllConnections()` also ends
 * connections node:http does not track (mid-handshake, or never sent a request), so shutdown does not
 * wait minutes for their timeouts. A refused handshake names its peer even when the peer already hung up.
 *
 * TLS runs on the TCP handle itself. Feeding it through a JS stream instead saved about 43 KiB of
 * read buffers per connection after a 400 KB upload (440 to 405 MiB at 1,000 participants) but cost
 * 10-30% more CPU per update (every chunk became a JS Buffer and passed through a Duplex); CPU per
 * update is what bounds a coordinator or an edge, and the root of a tiered job holds few connections.
 */
export function createMutualTlsServer(options: TlsOptions, handler: RequestListener, admit: (socket: Socket) => boolean = () => true): Server {
  const server = createServer(options, handler);
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  const connections = new Set<Socket>();
  const closeHttpConnections = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    closeHttpConnections();
    for (const socket of connections) socket.destroy();
  };
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (!admit(socket)) {
      socket.destroy();
      return;
    }
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    // Read now, so the TCP socket keeps it: a TLS socket whose peer hung up mid-handshake can no longer ask the kernel.
    void socket.remoteAddress;
    for (const listener of listeners) listener.call(server, socket);
  });
  server.prependListener('tlsClientError', (_error: Error, socket: TLSSocket) => {
    // node:tls keeps the TCP socket it wraps as `_parent` (not in its typings).
    const tcp = (socket as TLSSocket & { _parent?: Socket })._parent;
    if (socket.remoteAddress !== undefined || tcp?.remoteAddress === undefined) return;
    for (const name of ['remoteAddress', 'remotePort', 'remoteFamily'] as const) Object.defineProperty(socket, name, { value: tcp[name], enumerable: true });
  });
  return server;
}
