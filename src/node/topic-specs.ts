import type { WharfConfig } from '../config/index.js'
import type { TopicSpec } from '../kafka/topic-admin.js'

/**
 * The topics of the design, as configured: the data topic, the nodes topic and the compacted ones
 * (retained, sessions, users, banned, clients, API keys); plus the Kafka topics of mapping rules, created when missing
 * with the data topic's settings.
 */
export function topicSpecs (topics: WharfConfig['topics'], mappedTopics: readonly string[] = []): TopicSpec[] {
  const mapped = mappedTopics.filter((name) => name !== topics.messages.name)
  return [
    { ...topics.messages, compacted: false },
    ...mapped.map((name) => ({ ...topics.messages, name, compacted: false })),
    { ...topics.retained, compacted: true },
    { ...topics.sessions, compacted: true },
    { ...topics.nodes, compacted: false },
    { ...topics.users, compacted: true },
    { ...topics.banned, compacted: true },
    { ...topics.clients, compacted: true },
    { ...topics.api_keys, compacted: true }
  ]
}
