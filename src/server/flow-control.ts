import type { WebSocket } from 'ws';

// Received messages waiting to be handled (each up to a model's size): reading from every socket
// pauses above the first bound and resumes below the second, so memory follows the bound, not the crowd.
const BACKLOG_PAUSE = 16;
const BACKLOG_RESUME = 4;
// Tasks (each a model's size) being written at once; the rest wait their turn.
const SEND_SLOTS = 8;
// A participant that does not confirm a task within this time frees its send slot for the next one.
const DELIVERY_GRANT_MS = 30_000;
// Updates (each a model's size) uploading at once: a participant offers, and sends when pulled, so
// the coordinator holds a bounded number of models in memory however many participants finish together.
const UPLOAD_SLOTS = 8;
// A pulled participant that does not send within this time loses its slot to the next one.
const UPLOAD_GRANT_MS = 30_000;

/** A slot held for one round's task or update, and the timer that frees it when the participant goes quiet. */
export interface RoundSlot {
  roundId: string;
  timer: NodeJS.Timeout;
}

/** What flow control keeps on each participant's connection. */
export interface FlowPeer {
  readonly socket: WebSocket;
  /** The round whose update this participant may upload now, and when the slot lapses. */
  granted: RoundSlot | null;
  /** The task being delivered to this participant, holding a send slot until it confirms receipt. */
  delivering: RoundSlot | null;
  /** The round of a task waiting in the outbox for this participant. */
  pendingTask: string | null;
}

/** How flow control reaches the connections it paces. */
export interface FlowLinks<P extends FlowPeer> {
  /** Every connection now, to pause or resume reading. */
  peers(): Iterable<P>;
  /** False once a newer connection of the same participant replaced this one. */
  isCurrent(peer: P): boolean;
  /** Asks the participant to send its update for the round now. */
  pull(peer: P, roundId: string): void;
}

/**
 * Bounds the models the coordinator holds in memory, however many participants there are: reading
 * pauses while too many received messages wait, and only a few tasks are written and a few updates
 * uploaded at once, the rest waiting their turn.
 */
export class FlowControl<P extends FlowPeer> {
  /** Messages received and not yet handled, across participants; above a bound, reading stops. */
  private backlog = 0;
  private readingPaused = false;
  /** Tasks waiting for a send slot, and tasks written and not yet confirmed. */
  private readonly outbox: (() => void)[] = [];
  private sending = 0;
  /** Participants waiting to upload an update, and how many uploads are under way. */
  private readonly uploadQueue: { peer: P; roundId: string }[] = [];
  private uploading = 0;

  constructor(private readonly links: FlowLinks<P>) {}

  /** True while reading is paused everywhere; a connection opened meanwhile starts paused. */
  get paused(): boolean {
    return this.readingPaused;
  }

  /** Counts a received message as waiting; too many waiting pause reading from every socket. */
  received(): void {
    this.backlog++;
    if (this.backlog >= BACKLOG_PAUSE && !this.readingPaused) this.setPaused(true);
  }

  /** Counts a waiting message as handled; reading resumes once few are left. */
  handled(): void {
    this.backlog--;
    if (this.readingPaused && this.backlog <= BACKLOG_RESUME) this.setPaused(false);
  }

  /** Queues a round's task for the participant; `write` sends it once a send slot is free. */
  deliverTask(peer: P, roundId: string, write: () => void): void {
    // One delivery per participant and round: a task already on its way or waiting is not sent twice.
    if (peer.delivering?.roundId === roundId || peer.pendingTask === roundId) return;
    peer.pendingTask = roundId;
    this.outbox.push(() => {
      peer.pendingTask = null;
      if (peer.socket.readyState !== peer.socket.OPEN || !this.links.isCurrent(peer)) return;
      this.delivered(peer);
      this.sending++;
      // TLS queues a whole encrypted model at once, so a write callback says nothing about memory: the
      // slot is held until the participant confirms receipt (or leaves, or the slot lapses).
      const delivery: RoundSlot = { roundId, timer: setTimeout(() => peer.delivering === delivery && this.delivered(peer), DELIVERY_GRANT_MS) };
      peer.delivering = delivery;
      write();
    });
    this.drainOutbox();
  }

  /** Frees the send slot a task to this participant held; with a round, only if the task is that round's. */
  delivered(peer: P, roundId?: string): void {
    if (!peer.delivering || (roundId !== undefined && peer.delivering.roundId !== roundId)) return;
    clearTimeout(peer.delivering.timer);
    peer.delivering = null;
    this.sending--;
    this.drainOutbox();
  }

  /** Queues the participant to be pulled for its update of the round, unless it already holds that round's slot. */
  requestUpload(peer: P, roundId: string): void {
    if (peer.granted?.roundId === roundId) return;
    const queued = this.uploadQueue.find((q) => q.peer === peer);
    if (queued) queued.roundId = roundId;
    else this.uploadQueue.push({ peer, roundId });
    this.grantUploads();
  }

  /** True when the participant was pulled for its update of this round and its slot has not lapsed. */
  mayUpload(peer: P, roundId: string): boolean {
    return peer.granted?.roundId === roundId;
  }

  /** Frees the participant's upload slot for the next one waiting. */
  releaseUpload(peer: P): void {
    if (!peer.granted) return;
    clearTimeout(peer.granted.timer);
    peer.granted = null;
    this.uploading--;
    this.grantUploads();
  }

  /** Frees whatever a closed connection held: its upload slot, its send slot and its place in the upload queue. */
  forget(peer: P): void {
    this.releaseUpload(peer);
    this.delivered(peer);
    const queued = this.uploadQueue.findIndex((q) => q.peer === peer);
    if (queued >= 0) this.uploadQueue.splice(queued, 1);
  }

  private grantUploads(): void {
    while (this.uploading < UPLOAD_SLOTS && this.uploadQueue.length > 0) {
      const { peer, roundId } = this.uploadQueue.shift() as { peer: P; roundId: string };
      if (peer.socket.readyState !== peer.socket.OPEN) continue;
      this.releaseUpload(peer);
      this.uploading++;
      const grant: RoundSlot = { roundId, timer: setTimeout(() => peer.granted === grant && this.releaseUpload(peer), UPLOAD_GRANT_MS) };
      peer.granted = grant;
      this.links.pull(peer, roundId);
    }
  }

  private drainOutbox(): void {
    while (this.sending < SEND_SLOTS && this.outbox.length > 0) (this.outbox.shift() as () => void)();
  }

  private setPaused(paused: boolean): void {
    this.readingPaused = paused;
    for (const peer of this.links.peers()) {
      if (paused) peer.socket.pause();
      else peer.socket.resume();
    }
  }
}
