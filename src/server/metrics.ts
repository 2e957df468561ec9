import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The coordinator's Prometheus metrics, in their own registry (so two coordinators in one process do not clash). */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly rounds = new Counter({ name: 'cipher_nexus_rounds_total', help: 'Rounds finalised', registers: [this.registry] });
  readonly roundSeconds = new Histogram({
    name: 'cipher_nexus_round_duration_seconds',
    help: 'Wall time of a round, from opening to evaluation',
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly aggregateSeconds = new Histogram({
    name: 'cipher_nexus_aggregate_duration_seconds',
    help: "Time to combine a round's updates (the strategy, or the protection's unmasking, decryption or enclave call)",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly enclaveInfo = new Gauge({ name: 'cipher_nexus_enclave_info', help: "The job's aggregation enclave: its kind and measurement (1 while it runs)", labelNames: ['kind', 'measurement'], registers: [this.registry] });
  readonly enclaveUp = new Gauge({ name: 'cipher_nexus_enclave_up', help: 'Whether the aggregation enclave answered its last health check (1) or not (0)', registers: [this.registry] });
  readonly enclaveHeapUsed = new Gauge({ name: 'cipher_nexus_enclave_heap_used_bytes', help: "The aggregation enclave's heap in use, as it last reported", registers: [this.registry] });
  readonly enclaveHeapLimit = new Gauge({ name: 'cipher_nexus_enclave_heap_limit_bytes', help: "The aggregation enclave's heap ceiling", registers: [this.registry] });
  readonly enclaveRss = new Gauge({ name: 'cipher_nexus_enclave_resident_bytes', help: "The aggregation enclave's resident memory, as it last reported", registers: [this.registry] });
  readonly updates = new Counter({ name: 'cipher_nexus_updates_total', help: 'Updates received, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly updateLatency = new Histogram({
    name: 'cipher_nexus_update_latency_seconds',
    help: 'From sending a task to receiving its update',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({ name: 'cipher_nexus_received_bytes_total', help: 'Bytes of participant messages received', registers: [this.registry] });
  readonly bytesOut = new Counter({ name: 'cipher_nexus_sent_bytes_total', help: 'Bytes of messages sent to participants', registers: [this.registry] });
  readonly authFailures = new Counter({ name: 'cipher_nexus_auth_failures_total', help: 'Refused authentications, by code', labelNames: ['code'], registers: [this.registry] });
  readonly refusalsBySource = new Counter({
    name: 'cipher_nexus_refusals_by_source_total',
    help: 'Refusals by code and peer address',
    labelNames: ['code', 'source'],
    registers: [this.registry],
  });
  readonly firewallDenied = new Counter({ name: 'cipher_nexus_firewall_denied_total', help: "Connections refused by the job's firewall, by the list that refused them", labelNames: ['list'], registers: [this.registry] });
  readonly operatorAuthFailures = new Counter({ name: 'cipher_nexus_operator_auth_failures_total', help: 'Refused requests to the operator listener, by code', labelNames: ['code'], registers: [this.registry] });
  readonly rejected = new Counter({ name: 'cipher_nexus_messages_rejected_total', help: 'Refused messages, by code', labelNames: ['code'], registers: [this.registry] });
  readonly connected = new Gauge({ name: 'cipher_nexus_connected_participants', help: 'Participants connected now', registers: [this.registry] });
  readonly nodeCpu = new Gauge({ name: 'cipher_nexus_node_cpu_load', help: 'Reported CPU load per node (0..1)', labelNames: ['node'], registers: [this.registry] });
  readonly nodeMemory = new Gauge({ name: 'cipher_nexus_node_memory_load', help: 'Reported memory load per node (0..1)', labelNames: ['node'], registers: [this.registry] });
  readonly accuracy = new Gauge({ name: 'cipher_nexus_model_accuracy', help: 'Held-out accuracy after the latest round', labelNames: ['job'], registers: [this.registry] });

  constructor() {
    // The default metrics already start with process_/nodejs_; the prefix namespaces them.
    collectDefaultMetrics({ register: this.registry, prefix: 'cipher_nexus_' });
  }

  /** The exposition text for GET /metrics. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
