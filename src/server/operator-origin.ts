import { isIP } from 'node:net';

/**
 * Which names the operator listener answers to. A browser page from any site can make the browser
 * send requests to a loopback port, and with DNS rebinding (attacker.example resolving to 127.0.0.1)
 * read the answers as same-origin; the `Host` header still says attacker.example, so only configured
 * names are served. Browsers send `Origin` on every WebSocket upgrade and every cross-origin POST, so a
 * request whose Origin is not the very host it was sent to is refused too (cross-site WebSocket
 * hijacking, CSRF).
 */

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** The host name of a `Host` header or URL host, lowercase, without brackets, port or a trailing dot; undefined when it is not one. */
export function hostnameOf(host: string): string | undefined {
  try {
    const url = new URL(`http://${host}`);
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return undefined;
    return url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
  } catch {
    return undefined;
  }
}

/** Whether an address or name is loopback: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  const name = hostnameOf(isIP(host) === 6 ? `[${host}]` : host) ?? host.toLowerCase();
  if (name === 'localhost' || name === '::1') return true;
  return isIP(name) === 4 && name.startsWith('127.');
}

/** Whether a listen address is a wildcard (every interface). */
function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** The Host and Origin policy of the operator listener. */
export class OperatorOrigins {
  private readonly names: ReadonlySet<string>;

  /**
   * Serves the names in `hostnames` (a reverse proxy's, a DNS name of the coordinator), the listen
   * address itself unless it is a wildcard, and the loopback names when it listens on loopback or on
   * every interface (an SSH tunnel arrives as 127.0.0.1).
   */
  constructor(listenHost: string, hostnames: readonly string[] = []) {
    const names = new Set<string>();
    for (const name of hostnames) names.add(hostnameOf(name) ?? name.toLowerCase());
    if (!isWildcard(listenHost)) names.add(hostnameOf(isIP(listenHost) === 6 ? `[${listenHost}]` : listenHost) ?? listenHost);
    if (isWildcard(listenHost) || isLoopbackHost(listenHost)) for (const name of LOOPBACK_NAMES) names.add(name);
    this.names = names;
  }

  /** The names served, for messages. */
  get allowedNames(): string[] {
    return [...this.names];
  }

  /** Whether a request with this `Host` header is for this listener. */
  allowsHost(host: string | undefined): boolean {
    const name = host === undefined ? undefined : hostnameOf(host);
    return name !== undefined && this.names.has(name);
  }

  /** Whether a request's `Origin` is the host it was sent to: absent (not a browser) or the same host and port; the literal `null` never. */
  allowsOrigin(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    if (host === undefined) return false;
    try {
      const url = new URL(origin);
      // The scheme is not compared: behind a TLS proxy the page is https and this listener plain http.
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === new URL(`http://${host}`).host;
    } catch {
      return false;
    }
  }
}
