export { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from './coordinator-server.js';
export { ParticipantGateway, type GatewayLimits } from './participant-gateway.js';
export { CoordinatorMetrics } from './metrics.js';
export { ServerEvents } from './events.js';
export { registerOperatorApi } from './operator-api.js';
export { TokenBucket } from './token-bucket.js';
