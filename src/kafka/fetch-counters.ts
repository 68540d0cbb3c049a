/**
 * What a partition fetcher read from one Kafka topic, as plain running totals: the node exports them
 * (per topic) to /metrics, and tests and benchmarks read them to see which topics an edge pays for.
 */
export interface TopicFetchCounters {
  /** Fetch requests that asked for at least one partition of the topic */
  fetchRequests: number
  /** bytes of the complete record batches fetched */
  bytesFetched: number
  /** data records fetched at or above the position asked for (delivered + skipped + aborted) */
  recordsFetched: number
  /** records the topic's filter did not want: skipped before their value and headers were decoded */
  recordsSkipped: number
  /** records handed to the batch handler */
  recordsDelivered: number
  /** records of aborted transactions, dropped */
  recordsAborted: number
  /** records that left the log (retention) before they could be read */
  recordsLost: number
  /** positions that were out of range and were moved into the log */
  offsetResets: number
}

export function newTopicFetchCounters (): TopicFetchCounters {
  return { fetchRequests: 0, bytesFetched: 0, recordsFetched: 0, recordsSkipped: 0, recordsDelivered: 0, recordsAborted: 0, recordsLost: 0, offsetResets: 0 }
}
