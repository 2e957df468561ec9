import WebSocket from 'ws';
import type { ResourceMetrics } from '../core/index.js';
import { tlsOptionsForClient, type MessageSigner, type ParticipantKit } from '../identity/index.js';
import { PARTICIPANT_FRAGMENT_BYTES, SendQueue, type ClientHeader, type ClientKind } from '../protocol/index.js';
import { deferredParticipantFrame } from './participant-frame.js';

/** What one connection of a participant (an agent, or an edge towards its root) needs. */
export interface UplinkOptions {
  url: string;
  kit: ParticipantKit;
  signer: MessageSigner;
  /** Resource metrics sent with each heartbeat. */
  resources: () => ResourceMetrics;
  /** Sees each frame whole as it is written (a participant's opt-in wire log). */
  onFrame?: (frame: Uint8Array) => void;
}

/**
 * One connection of a participant to its coordinator over mutual TLS: signed frames written in order, each signed
 * when its turn comes, and the heartbeat the coordinator's welcome asks for, stopped when the connection closes.
 */
export class Uplink {
  readonly socket: WebSocket;
  private readonly out: SendQueue;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly options: UplinkOptions) {
    this.socket = new WebSocket(options.url, { ...tlsOptionsForClient(options.kit), maxPayload: 512 * 2 ** 20 });
    this.socket.binaryType = 'nodebuffer';
    this.out = new SendQueue(this.socket, options.onFrame, PARTICIPANT_FRAGMENT_BYTES);
    this.socket.on('close', () => this.stopHeartbeat());
  }

  /** Queues a signed message; settles once written, or at once when the connection is not open (its close handler takes over). */
  send<K extends ClientKind>(kind: K, header: ClientHeader<K>, body?: Uint8Array): Promise<void> {
    if (this.socket.readyState !== WebSocket.OPEN) return Promise.resolve();
    const frame = deferredParticipantFrame(this.options.signer, kind, header, body);
    // A failed write means the connection is closing; the reconnect loop takes over.
    return this.out.send(frame).catch(() => undefined);
  }

  /** Sends a heartbeat every `seconds` (the welcome's interval) until the connection closes. */
  keepAlive(seconds: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => this.beat(), seconds * 1000);
    this.heartbeat.unref();
  }

  /** Closes the connection; messages queued and not yet written are dropped. */
  close(): void {
    this.socket.close();
  }

  /**
   * Sends a heartbeat unless the connection still has messages waiting to be written: that traffic
   * already shows the node is alive, and beats piling up behind a large update only add load.
   */
  private beat(): void {
    if (this.out.pending === 0) void this.send('heartbeat', { resources: this.options.resources() });
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
