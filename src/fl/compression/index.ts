export { CompressionConfigSchema, UpdateCompressor, decompress, type CompressionConfig, type DecompressOptions, type ParsedCompressionConfig } from './compressor.js';
export { topKCount } from './topk.js';
export { MAX_DIMENSION, denseBytes } from './wire-format.js';
