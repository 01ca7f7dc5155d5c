import { Gauge, type Registry } from 'prom-client'
import type { Db } from '../../db/index.js'
import * as repo from './audit-repository.js'
import type { AuditSequencer } from './audit-sequencer.js'

/** The audit log's gauges on the service's /metrics (each read at the scrape). */
export function registerAuditMetrics (registry: Registry, sequencer: AuditSequencer, db: Db): void {
  new Gauge({
    name: 'audit_pending_entries',
    help: 'Audit entries committed but not yet given their position in the log',
    registers: [registry],
    async collect () { this.set(await repo.pendingCount(db)) }
  })
  new Gauge({
    name: 'audit_tree_size',
    help: 'Entries in the audit log (its last position)',
    registers: [registry],
    async collect () { this.set(await repo.treeSize(db)) }
  })
  new Gauge({
    name: 'audit_sequencer_leading',
    help: '1 while this process sequences the audit log (exactly one process should)',
    registers: [registry],
    collect () { this.set(sequencer.leading ? 1 : 0) }
  })
  new Gauge({
    name: 'audit_sequencing_lag_seconds',
    help: "Age of the oldest entry of this process's last sequencing step when it was sequenced (0 when not leading)",
    registers: [registry],
    collect () { this.set(sequencer.leading ? sequencer.lastStep.lagMs / 1000 : 0) }
  })
  new Gauge({
    name: 'audit_default_partition_entries',
    help: 'Audit entries dated in a month with no partition (they fell into the DEFAULT partition), as the leader last counted (0 when not leading)',
    registers: [registry],
    collect () { this.set(sequencer.leading ? sequencer.inDefault : 0) }
  })
}
