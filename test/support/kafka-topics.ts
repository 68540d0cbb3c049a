import type { Admin } from 'kafkajs'

/**
 * Creates a topic and waits until every partition has a leader (and, with `fullIsr`, every replica
 * in sync). Not kafkajs' `waitForLeaders`: it asks the broker CreateTopics went to, which in a KRaft
 * cluster may not know the topic yet.
 */
export async function createTopicWithLeaders (admin: Admin, topic: string, partitions: number, replicationFactor = 1, fullIsr = false): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor }], waitForLeaders: false })
  const deadline = Date.now() + 60_000
  for (;;) {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined)
    const found = meta?.topics[0]?.partitions ?? []
    if (found.length === partitions && found.every((p) => p.leader >= 0 && (!fullIsr || p.isr.length === replicationFactor))) return
    if (Date.now() > deadline) throw new Error(`topic ${topic} is not ready after 60 s`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
