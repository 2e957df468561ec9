export { SqliteStorage, type SqliteStorageOptions } from './storage.js';
