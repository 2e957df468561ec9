export { createBackup, listBackups, restoreBackup, verifyBackup, type BackupInfo, type BackupVerification, type CreateBackupOptions, type RestoreBackupOptions } from './backup.js';
export { BackupCorruptError, BackupManifestSchema, MANIFEST_FILE, type BackupManifest, type BackupPart } from './manifest.js';
export type { SnapshotMethod } from './database-snapshot.js';
