import type { EnclaveResources, EnclaveUsage } from '../tee/index.js';
import type { ServerEvents } from './events.js';
import type { CoordinatorMetrics } from './metrics.js';
import type { AuditSink } from './participant-gateway.js';

/** The job's aggregation enclave as the coordinator sees it. */
export interface WatchedEnclave {
  kind: string;
  measurement: string;
  resources: EnclaveResources;
  usage(): Promise<EnclaveUsage | null>;
}

/** Share of the heap ceiling above which the enclave is reported as short of memory. */
const HEAP_ALERT_SHARE = 0.9;

/**
 * Watches the aggregation enclave: its health and memory in `/metrics`, and a security event and an
 * audit entry when it stops answering (a round it cannot aggregate fails) or nears its heap ceiling,
 * raised once per change rather than on every check.
 */
export class EnclaveWatch {
  private timer: NodeJS.Timeout | null = null;
  private up = true;
  private short = false;

  constructor(
    private readonly enclave: WatchedEnclave,
    private readonly deps: { metrics: CoordinatorMetrics; events: ServerEvents; audit: AuditSink; intervalMs?: number },
  ) {
    const { metrics } = deps;
    metrics.enclaveInfo.set({ kind: enclave.kind, measurement: enclave.measurement }, 1);
    metrics.enclaveHeapLimit.set(enclave.resources.memoryMb * 1024 * 1024);
    metrics.enclaveUp.set(1);
  }

  /** Checks every `intervalMs` (5 s by default) until stopped. */
  start(): void {
    this.timer = setInterval(() => void this.check(), this.deps.intervalMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Asks the enclave what it uses, updates the gauges, and raises what changed. */
  async check(): Promise<EnclaveUsage | null> {
    const { metrics, events, audit } = this.deps;
    const usage = await this.enclave.usage();
    metrics.enclaveUp.set(usage ? 1 : 0);
    if (!usage) {
      if (this.up) {
        this.up = false;
        const detail = `the ${this.enclave.kind} aggregation enclave (measurement ${this.enclave.measurement.slice(0, 16)}…) does not answer; rounds cannot be aggregated until the job is restarted`;
        events.emit('security', { at: Date.now(), kind: 'enclave_down', detail });
        void audit.append('security.enclave_down', 'coordinator', { kind: this.enclave.kind, measurement: this.enclave.measurement });
      }
      return null;
    }
    this.up = true;
    metrics.enclaveHeapUsed.set(usage.heapUsedBytes);
    metrics.enclaveRss.set(usage.rssBytes);
    const limit = this.enclave.resources.memoryMb * 1024 * 1024;
    const short = usage.heapUsedBytes > HEAP_ALERT_SHARE * limit;
    if (short && !this.short) {
      events.emit('security', { at: Date.now(), kind: 'enclave_memory', detail: `the aggregation enclave uses ${(usage.heapUsedBytes / 2 ** 20).toFixed(0)} of its ${this.enclave.resources.memoryMb} MiB heap; raise privacy.teeMemoryMb before it runs out` });
    }
    this.short = short;
    return usage;
  }
}
