import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { parseWithSchema, type JobStatus, type NodeStatus, type ResourceMetrics } from '../core/index.js';
import type { RoundReport } from '../fl/index.js';

/** A job started, finished or failed; `rounds` is the number of rounds it plans to run. */
export interface JobEvent {
  jobId: string;
  name: string;
  status: JobStatus;
  rounds: number;
  /** For a running job an operator paused or resumed: where it stands now. */
  control?: 'running' | 'pausing' | 'paused';
}

/** A job's round finished and was evaluated. */
export interface RoundEvent {
  jobId: string;
  round: RoundReport;
}

/** A compute node registered, sent a heartbeat or changed status. */
export interface NodeEvent {
  id: string;
  status: NodeStatus;
  /** Time of its last heartbeat, ms since the epoch. */
  lastHeartbeat: number;
  resources?: ResourceMetrics;
}

/** What kind of thing a security event reports; open-ended so the coordinator can add kinds without a change here. */
export type SecurityEventKind =
  | 'auth_failed'
  | 'replay'
  | 'revoked'
  | 'rate_limited'
  | 'update_rejected'
  | 'poisoning_flagged'
  | 'weight_over_bound'
  | 'accuracy_drop'
  | (string & {});

/** Something an operator should know about: a refused request, a rejected update, a flagged client. */
export interface SecurityEvent {
  /** When it happened, ms since the epoch. */
  at: number;
  kind: SecurityEventKind;
  /** The participant or node it concerns, when known. */
  participant?: string;
  detail: string;
}

/** A data set's privacy budget after a charge (epsilon spent of epsilon allowed). */
export interface BudgetEvent {
  dataset: string;
  spent: number;
  budget: number;
}

/** Every event the coordinator emits, by type. */
export interface ServerEventMap {
  job: JobEvent;
  round: RoundEvent;
  node: NodeEvent;
  security: SecurityEvent;
  budget: BudgetEvent;
}

/** The name of a server event. */
export type ServerEventType = keyof ServerEventMap;

/** One event as it travels to dashboards: `{ type, data }`, discriminated by `type`. */
export type ServerEventMessage = { [K in ServerEventType]: { type: K; data: ServerEventMap[K] } }[ServerEventType];

/** Options of a ServerEvents bus. */
export interface ServerEventsOptions {
  /** How many recent security events to keep for the API. Default 500. */
  securityCapacity?: number;
}

const DEFAULT_SECURITY_CAPACITY = 500;

// The inner emitter's channel for listeners that want every event; it cannot clash with a ServerEventType.
type Channels = { [K in ServerEventType]: [data: ServerEventMap[K]] } & { '*': [message: ServerEventMessage] };

/**
 * The coordinator's event bus: the coordinator emits job, round, node, security and budget events;
 * the operator API and dashboards listen. Listeners run synchronously inside `emit` (as with
 * node:events), so they must not throw and must not block. The most recent security events are
 * kept in memory so a dashboard that connects late can still show them.
 */
export class ServerEvents {
  private readonly emitter = new EventEmitter<Channels>();
  private readonly securityCapacity: number;
  // Ring buffer: `securityStart` is the index of the oldest kept event once the buffer is full.
  private readonly security: SecurityEvent[] = [];
  private securityStart = 0;

  constructor(options: ServerEventsOptions = {}) {
    this.securityCapacity = parseWithSchema(options.securityCapacity ?? DEFAULT_SECURITY_CAPACITY, z.number().int().positive(), 'security event capacity');
    // Every open dashboard adds a listener; the default cap of 10 would warn about a leak that is not one.
    this.emitter.setMaxListeners(0);
  }

  /** Delivers `data` to the listeners of `type` and to every `onAny` listener. */
  emit<K extends ServerEventType>(type: K, data: ServerEventMap[K]): void {
    if (type === 'security') this.remember(data as SecurityEvent);
    // The casts restate what the mapped types already say; TypeScript cannot correlate K across them.
    (this.emitter.emit as (channel: K, data: ServerEventMap[K]) => boolean)(type, data);
    this.emitter.emit('*', { type, data } as ServerEventMessage);
  }

  /** Calls `listener` for each event of `type`; returns a function that unsubscribes it. */
  on<K extends ServerEventType>(type: K, listener: (data: ServerEventMap[K]) => void): () => void {
    const on = this.emitter.on.bind(this.emitter) as (channel: K, fn: (data: ServerEventMap[K]) => void) => void;
    const off = this.emitter.off.bind(this.emitter) as (channel: K, fn: (data: ServerEventMap[K]) => void) => void;
    on(type, listener);
    return () => off(type, listener);
  }

  /** Calls `listener` with every event as `{ type, data }`; returns a function that unsubscribes it. */
  onAny(listener: (message: ServerEventMessage) => void): () => void {
    this.emitter.on('*', listener);
    return () => this.emitter.off('*', listener);
  }

  /** The most recent security events, newest first, at most `limit` of them (default: all kept). */
  recentSecurityEvents(limit: number = this.securityCapacity): SecurityEvent[] {
    const ordered = [...this.security.slice(this.securityStart), ...this.security.slice(0, this.securityStart)];
    return ordered.reverse().slice(0, Math.max(0, limit));
  }

  private remember(event: SecurityEvent): void {
    if (this.security.length < this.securityCapacity) {
      this.security.push(event);
      return;
    }
    this.security[this.securityStart] = event;
    this.securityStart = (this.securityStart + 1) % this.securityCapacity;
  }
}
