import { serveEnclaveProgram } from '../../tee/index.js';
import { EnclaveAggregator } from './enclave-aggregation.js';

// The aggregation enclave's entry: bundled with everything it imports, and measured (SHA-384) as one file.
const aggregator = new EnclaveAggregator();
serveEnclaveProgram((request) => aggregator.handle(request));
