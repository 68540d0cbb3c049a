import { Kafka, logLevel } from 'kafkajs'

/**
 * The ids of the brokers the cluster's metadata lists (registered and unfenced), asked through
 * any of `brokers`; undefined when none answers. One quick attempt: callers poll.
 */
export async function listedBrokerIds (brokers: string[], timeoutMs = 3000): Promise<number[] | undefined> {
  if (brokers.length === 0) return undefined
  const kafka = new Kafka({
    clientId: 'wharf-local-kafka-probe',
    brokers,
    connectionTimeout: Math.min(timeoutMs, 1000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING
  })
  const admin = kafka.admin({ retry: { retries: 0 } })
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    return cluster.brokers.map((b) => b.nodeId).sort((a, b) => a - b)
  } catch {
    return undefined
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}
