import type { WebSocket } from 'ws';
import { loadRevocationList, revocationListPath } from '../identity/index.js';
import type { ServerEvents } from './events.js';
import type { AuditSink } from './participant-gateway.js';

// How often the revocation list is re-read for connected participants.
const REVOCATION_CHECK_MS = 2000;

/** A participant's open connection, which a revocation closes. */
export interface RevocableConnection {
  readonly participantId: string;
  readonly socket: WebSocket;
}

/** What the watch reads and where it reports. */
export interface RevocationWatchDeps {
  /** The provisioning directory whose revocation list is the authority. */
  kitDir: string;
  events: ServerEvents;
  audit: AuditSink;
}

/**
 * The participants revoked from the job, read from the revocation list file rather than the kit
 * loaded at start, so that a revoke takes effect at once, for new and open connections alike.
 */
export class RevocationWatch {
  private revoked = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: RevocationWatchDeps,
    private readonly connections: () => Iterable<RevocableConnection>,
  ) {}

  /** True when the participant was on the list when it was last read. */
  isRevoked(participantId: string): boolean {
    return this.revoked.has(participantId);
  }

  /** Reads the revocation list again; throws when it cannot be read. */
  refresh(): void {
    this.revoked = new Set(loadRevocationList(revocationListPath(this.deps.kitDir)).entries.map((e) => e.participantId));
  }

  /** Reads the revocation list again and closes the connections of participants on it. */
  enforce(): void {
    try {
      this.refresh();
    } catch (error) {
      this.deps.events.emit('security', { at: Date.now(), kind: 'revocation_list_unreadable', detail: (error as Error).message });
      return;
    }
    for (const connection of this.connections()) {
      if (!this.revoked.has(connection.participantId)) continue;
      this.deps.events.emit('security', { at: Date.now(), kind: 'revoked', participant: connection.participantId, detail: 'connection closed: the participant was revoked' });
      void this.deps.audit.append('security.revoked', connection.participantId, { what: 'connection closed' });
      connection.socket.close(4403, 'participant revoked');
    }
  }

  /** Enforces the list every few seconds, so a revocation reaches participants that stay connected. */
  start(): void {
    this.timer = setInterval(() => this.enforce(), REVOCATION_CHECK_MS);
    this.timer.unref();
  }

  /** Stops the periodic enforcement. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
