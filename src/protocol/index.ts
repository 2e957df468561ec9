export * from './messages.js';
export * from './fragmented-send.js';
