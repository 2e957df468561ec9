import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OperatorAuthError, SESSION_COOKIE, bearerToken, cookieValue, type OperatorAccess, type OperatorPrincipal } from './operator-access.js';
import type { OperatorOrigins } from './operator-origin.js';

/**
 * What a route of the operator listener asks of a request, set as the route's `config.access`:
 * `probe` (/health, /ready: open, and answered whatever the Host, for load balancers), `public` (the
 * dashboard's files and the login form's POST), `scrape` (/metrics: the scrape token or an operator's),
 * `viewer` and `admin`. A route without one needs a viewer, except the dashboard's static files.
 */
export type RouteAccess = 'probe' | 'public' | 'scrape' | 'viewer' | 'admin';

/** A refused request, for metrics, security events and the audit trail. */
export interface OperatorRefusal {
  code: OperatorAuthError['code'];
  message: string;
  method: string;
  path: string;
  /** The operator, when credentials were valid but not enough (a viewer on an admin route). */
  operator?: string;
  /** The peer's address. */
  source: string;
  /** Whether the request carried credentials at all: a missing credential is routine, a wrong one is not. */
  presented: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request, once the guard let it through a route that needs an operator. */
    operator: OperatorPrincipal | null;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

function routeAccess(request: FastifyRequest): RouteAccess {
  const config = request.routeOptions.config as { access?: RouteAccess; file?: string };
  // @fastify/static marks its routes with the file they serve: the dashboard must load before anyone logs in.
  return config.access ?? (config.file !== undefined ? 'public' : 'viewer');
}

function identify(access: OperatorAccess, request: FastifyRequest): { principal?: OperatorPrincipal; presented: boolean } {
  const token = bearerToken(request.headers.authorization);
  if (token !== undefined) return { principal: access.authenticateToken(token), presented: true };
  const session = cookieValue(request.headers.cookie, SESSION_COOKIE);
  if (session !== undefined && access.required) return { principal: access.authenticateSession(session), presented: true };
  if (!access.required) return { principal: access.authenticateToken(''), presented: false };
  return { presented: false };
}

/**
 * Installs the operator listener's checks as an onRequest hook of `app`, for every route registered
 * after it: the Host is one of `origins`' names, a WebSocket upgrade or a state-changing request comes
 * from the same origin, and the route's `config.access` is met. A refused request gets a JSON error
 * and reaches no handler.
 */
export function registerOperatorGuard(app: FastifyInstance, access: OperatorAccess, origins: OperatorOrigins, onRefused?: (refusal: OperatorRefusal) => void): void {
  app.decorateRequest('operator', null);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = routeAccess(request);
    if (route === 'probe') return;
    let presented = false;
    let operator: string | undefined;
    try {
      const host = request.headers.host;
      if (!origins.allowsHost(host)) {
        throw new OperatorAuthError('OPERATOR_HOST_REFUSED', `this coordinator's operator listener answers to ${origins.allowedNames.join(', ')}, not to host '${host ?? ''}'; start serve with --operator-hostname NAME to add a name`);
      }
      const upgrade = request.headers.upgrade?.toLowerCase() === 'websocket';
      if (upgrade || !SAFE_METHODS.has(request.method)) {
        const origin = request.headers.origin;
        if (!origins.allowsOrigin(origin, host) || request.headers['sec-fetch-site'] === 'cross-site') {
          throw new OperatorAuthError('OPERATOR_ORIGIN_REFUSED', `a request from origin '${origin ?? ''}' may not change anything or open the live socket here; use the dashboard this coordinator serves`);
        }
      }
      if (route === 'public') return;
      if (route === 'scrape') {
        const token = bearerToken(request.headers.authorization);
        presented = token !== undefined;
        if (token === undefined && access.required) throw new OperatorAuthError('OPERATOR_UNAUTHENTICATED', '/metrics needs the scrape token as Authorization: Bearer <token>');
        if (token !== undefined && !access.allowsScrape(token)) throw new OperatorAuthError('OPERATOR_BAD_CREDENTIALS', 'the token is neither the scrape token nor an operator token of this coordinator');
        return;
      }
      const who = identify(access, request);
      presented = who.presented;
      if (!who.principal) throw new OperatorAuthError('OPERATOR_UNAUTHENTICATED', 'log in with an operator token: in the dashboard, or as Authorization: Bearer <token>');
      operator = who.principal.name;
      if (route === 'admin' && who.principal.role !== 'admin') {
        throw new OperatorAuthError('OPERATOR_FORBIDDEN', `operator '${who.principal.name}' is a ${who.principal.role}; only an admin may ${request.method} ${request.url}`);
      }
      request.operator = who.principal;
    } catch (error) {
      if (!(error instanceof OperatorAuthError)) throw error;
      // A bearer header that is not 'Bearer <token>' is a credential presented, and wrong.
      presented ||= error.code === 'OPERATOR_BAD_CREDENTIALS';
      onRefused?.({ code: error.code, message: error.message, method: request.method, path: request.url, source: request.ip, presented, ...(operator && error.code === 'OPERATOR_FORBIDDEN' ? { operator } : {}) });
      if (error.httpStatus === 401) void reply.header('WWW-Authenticate', 'Bearer realm="cipher-nexus operator"');
      if (request.headers.upgrade !== undefined) {
        // A refused upgrade's socket is no longer the HTTP server's to close: it would keep the listener from closing.
        void reply.header('Connection', 'close');
        reply.raw.once('finish', () => request.raw.socket?.destroy());
      }
      return reply.code(error.httpStatus).send({ error: { code: error.code, message: error.message } });
    }
  });
}
