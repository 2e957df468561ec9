export { ClientAgent, ClientAgentError, hostResources, type ClientAgentOptions, type ClientAgentResult } from './agent.js';
