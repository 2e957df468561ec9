/**
 * The compiled contracts (ABI typed as a literal, bytecode, sizes), generated from contracts/ by
 * `npm run build:contracts` into generated/contracts/ at the package root; `npm ci` builds them.
 */
export * from '../../generated/contracts/index.js';
