export { ClientAgent, ClientAgentError, hostResources, type ClientAgentOptions, type ClientAgentResult } from './agent.js';
export { WireLog, readWireLog } from './wire-log.js';
