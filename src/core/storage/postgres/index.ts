export { PostgresStorage, type PostgresStorageOptions } from './storage.js';
