export * as core from './core/index.js';
export * as ml from './ml/index.js';
export * as fl from './fl/index.js';
