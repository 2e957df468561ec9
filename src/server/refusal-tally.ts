import type { Counter } from 'prom-client';
import type { ServerEvents } from './events.js';
import type { AuditSink } from './participant-gateway.js';

/** A refusal, which a peer can repeat as fast as it connects or sends. */
export interface SourceRefusal {
  /** Stable code: `TLS_HANDSHAKE`, `BODY_TOO_LARGE`, `MESSAGE_TOO_BIG`, `RATE_LIMITED`, or any other refusal's. */
  code: string;
  /** Security event kind (the audit kind is `security.<kind>`); known codes have their own, others `message_rejected`. */
  kind?: string;
  /** The peer's address (the only identity a refused handshake has). */
  source: string;
  /** The participant, when its certificate was already verified. */
  participant?: string;
  /** What was refused and why, for the operator. */
  detail: string;
}

/** How `RefusalTally.record` treats a refusal. */
export interface RecordOptions {
  /** The caller wrote this refusal's own audit entry: it is counted and listed only. */
  audited?: boolean;
}

/** How a RefusalTally reports. */
export interface RefusalTallyOptions {
  events: ServerEvents;
  audit: AuditSink;
  /** Counts refusals by `code` and `source`. */
  counter: Counter<'code' | 'source'>;
  /** Length of an aggregation window, ms; default one minute. */
  windowMs?: number;
  /** Sources listed one by one per window, in events and in metric labels; the rest are lumped together. Default 20. */
  maxSources?: number;
}

interface Tally {
  code: string;
  auditKind: string;
  audited: boolean;
  source: string;
  participant?: string;
  count: number;
  first: number;
  last: number;
  detail: string;
}

/** Security event kind and audit entry kind of the codes whose refusals are audited here. */
const KINDS: Record<string, { event: string; audit: string }> = {
  TLS_HANDSHAKE: { event: 'auth_failed', audit: 'security.tls_refused' },
  BODY_TOO_LARGE: { event: 'message_rejected', audit: 'security.message_rejected' },
  MESSAGE_TOO_BIG: { event: 'message_rejected', audit: 'security.message_rejected' },
  RATE_LIMITED: { event: 'rate_limited', audit: 'security.rate_limited' },
};
const DEFAULT_KINDS = { event: 'message_rejected', audit: 'security.message_rejected' };

/** The label and key under which sources beyond `maxSources` are counted. */
export const OTHER_SOURCES = 'other';

/**
 * Aggregates refusals that a peer can cause as fast as it can connect or send. Each
 * is counted at once; the first from a source in a window is raised as a security event; the
 * window's refusals from a source become one audit entry (with their count, first and last time)
 * when the window closes. So a flood costs one fsync and at most one dashboard entry per source and
 * minute, and a flood from many addresses at most `maxSources` + 1 events a minute, which cannot
 * push the operator's other security events out of the list. A refusal its caller audits itself
 * (`audited`: one of an authenticated participant's, kept durable one by one) is counted and listed here only.
 */
export class RefusalTally {
  private readonly windowMs: number;
  private readonly maxSources: number;
  private window = new Map<string, Tally>();
  private windowSources = new Set<string>();
  private readonly labelled = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private overflowReported = false;

  constructor(private readonly options: RefusalTallyOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxSources = options.maxSources ?? 20;
  }

  /** Counts a refusal, raises it when it is its source's first of its code in this window, and (unless `audited`) keeps it for the window's audit entry. */
  record(refusal: SourceRefusal, options: RecordOptions = {}): void {
    const now = Date.now();
    const kinds = refusal.kind ? { event: refusal.kind, audit: `security.${refusal.kind}` } : (KINDS[refusal.code] ?? DEFAULT_KINDS);
    // Label values are bounded for the life of the process: an address-hopping flood must not grow /metrics without end.
    if (this.labelled.size < this.maxSources * 5) this.labelled.add(refusal.source);
    this.options.counter.inc({ code: refusal.code, source: this.labelled.has(refusal.source) ? refusal.source : OTHER_SOURCES });
    if (this.windowSources.size < this.maxSources) this.windowSources.add(refusal.source);
    const source = this.windowSources.has(refusal.source) ? refusal.source : OTHER_SOURCES;
    // Participants behind one address (a NAT) keep their own entries.
    const key = `${refusal.code} ${source} ${refusal.participant ?? ''}`;
    const known = this.window.get(key);
    if (known) {
      known.count++;
      known.last = now;
      return;
    }
    this.window.set(key, { code: refusal.code, detail: refusal.detail, ...(refusal.participant ? { participant: refusal.participant } : {}), auditKind: kinds.audit, audited: options.audited ?? false, source, count: 1, first: now, last: now });
    this.timer ??= setTimeout(() => void this.flush(), this.windowMs).unref();
    if (source !== OTHER_SOURCES) {
      const participant = refusal.participant ? { participant: refusal.participant } : {};
      this.options.events.emit('security', { at: now, kind: kinds.event, ...participant, detail: `${refusal.code} from ${source}: ${refusal.detail} (further ones this minute are counted, not listed)` });
    } else if (!this.overflowReported) {
      this.overflowReported = true;
      this.options.events.emit('security', { at: now, kind: kinds.event, detail: `${refusal.code}: refusals from more than ${this.maxSources} addresses this minute; see /metrics and the audit trail` });
    }
  }

  /** Writes one audit entry per code and source of the current window, and starts a new window. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const closed = [...this.window.values()].filter((t) => !t.audited);
    this.window = new Map();
    this.windowSources = new Set();
    this.overflowReported = false;
    await Promise.all(
      closed.map((t) =>
        this.options.audit.append(t.auditKind, t.participant ?? 'unknown', {
          code: t.code,
          source: t.source,
          count: t.count,
          first: new Date(t.first).toISOString(),
          last: new Date(t.last).toISOString(),
          reason: t.detail.slice(0, 500),
        }),
      ),
    );
  }
}
