import type { KafkaMessage } from '../kafka/log-tail.js'
import type { Logger } from '../observability/logger.js'
import type { Membership } from './membership.js'
import { decodeNodeRecord, type WillsClaimRecord } from './node-records.js'
import type { TakeoverCoordinator } from './takeover.js'

/** Whoever acts on claims for dead nodes' wills. */
export interface WillsClaimSink {
  applyClaim (record: WillsClaimRecord): void
}

export interface NodesLogReaders {
  membership: Membership
  takeover: TakeoverCoordinator
  wills: WillsClaimSink
  logger: Logger
}

/**
 * The handler of the nodes-topic tail: decodes each record and hands heartbeats and leaves to the
 * membership view, takeover signals and kicks to the takeover coordinator, will claims to the dead-node wills.
 * Undecodable records are skipped.
 */
export function nodesLogHandler ({ membership, takeover, wills, logger }: NodesLogReaders) {
  const log = logger.child({ component: 'nodes-log' })
  let skipped = 0
  return async (_topic: string, _partition: number, messages: KafkaMessage[]): Promise<void> => {
    for (const m of messages) {
      const record = decodeNodeRecord(m.value)
      if (record === undefined) {
        if (skipped++ % 1000 === 0) log.warn({ offset: m.offset, skipped }, 'skipping a record of the nodes topic that is not a Wharf node record')
        continue
      }
      if (record.type === 'takeover') takeover.apply(record)
      else if (record.type === 'kick') takeover.applyKick(record)
      else if (record.type === 'wills') wills.applyClaim(record)
      else membership.apply(record)
    }
  }
}
