export { ClientAgent, ClientAgentError, hostResources, type ClientAgentOptions, type ClientAgentResult } from './agent.js';
export { deferredParticipantFrame, participantFrame } from './participant-frame.js';
export { WireLog, readWireLog } from './wire-log.js';
export { EdgeUplink, EdgeUplinkError, type EdgeUplinkOptions, type UpstreamEnd, type UpstreamTask } from './edge-uplink.js';
