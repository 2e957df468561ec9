import type { WebSocket } from 'ws';
import type { ServerEvents } from './events.js';
import type { AuditSink } from './participant-gateway.js';

/** A participant's open connection, watched for bytes from its peer. */
export interface WatchedConnection {
  readonly participantId: string;
  readonly socket: WebSocket;
  /** Bytes read from the peer so far (the TLS socket's `bytesRead`): a large update in flight counts as it arrives. */
  bytesRead(): number;
}

/** What the watch needs and where it reports. */
export interface LivenessWatchDeps {
  /** A connection from which nothing arrived for this long, pings included, is closed as gone. */
  silenceMs: number;
  /** How often connections are looked at; a connection quiet since the last look is pinged. */
  intervalMs: number;
  /** True while the coordinator reads from no connection (flow control): silence then says nothing about the peer. */
  readingPaused(): boolean;
  events: ServerEvents;
  audit: AuditSink;
}

/** The longest silence `serve` allows by default: six heartbeats, and never under two minutes. */
export function defaultSilenceSeconds(heartbeatSeconds: number): number {
  return Math.max(120, 6 * heartbeatSeconds);
}

interface Heard {
  bytes: number;
  at: number;
}

/**
 * Closes connections whose peer is gone without a word: a host that lost power or network leaves its TCP connection
 * open on the coordinator's side, where nothing else would notice (writes to it only fail after the kernel's
 * retransmissions, about 15 minutes), so it would stay online and be sent a task every round. A quiet connection is
 * pinged, which any WebSocket peer answers on its own; one that answers nothing for `silenceMs` is terminated, and
 * the gateway's close handling takes the participant out of the job until it reconnects.
 */
export class LivenessWatch {
  private readonly heard = new WeakMap<WatchedConnection, Heard>();
  private timer: NodeJS.Timeout | null = null;
  private lastLook = 0;

  constructor(
    private readonly deps: LivenessWatchDeps,
    private readonly connections: () => Iterable<WatchedConnection>,
  ) {}

  /** Looks at every connection: notes what arrived, pings the quiet ones and closes the silent ones. */
  look(now: number = Date.now()): void {
    const { silenceMs, intervalMs } = this.deps;
    // A look that comes late means the event loop was held: reads may be waiting behind it, so no one is judged now.
    const late = this.lastLook > 0 && now - this.lastLook > 2 * intervalMs;
    this.lastLook = now;
    const excused = late || this.deps.readingPaused();
    for (const connection of this.connections()) {
      const bytes = connection.bytesRead();
      const last = this.heard.get(connection);
      if (!last || bytes !== last.bytes || excused || connection.socket.isPaused) {
        this.heard.set(connection, { bytes, at: now });
        continue;
      }
      const silent = now - last.at;
      if (silent >= silenceMs) this.close(connection, silent);
      else if (connection.socket.readyState === connection.socket.OPEN) connection.socket.ping();
    }
  }

  /** Looks at the connections every `intervalMs`. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.look(), this.deps.intervalMs);
    this.timer.unref();
  }

  /** Stops looking. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private close(connection: WatchedConnection, silentMs: number): void {
    const seconds = Math.round(silentMs / 1000);
    this.deps.events.emit('security', {
      at: Date.now(),
      kind: 'participant_silent',
      participant: connection.participantId,
      detail: `nothing arrived from '${connection.participantId}' for ${seconds} s, pings included: its connection is closed as gone (its host or network is down); it rejoins when it connects again`,
    });
    void this.deps.audit.append('participant.silent', connection.participantId, { seconds });
    connection.socket.terminate();
  }
}
