export { buildProgram, DEFAULT_DB } from './program.js';
export { reportError, writeJsonFile, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './output.js';
export { progressObserver } from './progress.js';
