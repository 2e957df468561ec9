export { OperatorAbortError, OperatorListenerError, startCoordinator, type CoordinatorOptions, type RunningCoordinator } from './coordinator-server.js';
export { ParticipantGateway, type GatewayLimits } from './participant-gateway.js';
export { CoordinatorMetrics } from './metrics.js';
export { ServerEvents } from './events.js';
export { registerOperatorApi, type OperatorApiDeps, type OperatorControl } from './operator-api.js';
export { OperatorAccess, OperatorAuthError, SESSION_COOKIE, type OperatorAccessOptions, type OperatorAuthCode, type OperatorPrincipal } from './operator-access.js';
export { registerOperatorGuard, type OperatorRefusal, type RouteAccess } from './operator-guard.js';
export { OperatorOrigins, isLoopbackHost } from './operator-origin.js';
export { TokenBucket } from './token-bucket.js';
