import type { WharfConfig } from '../config/index.js'
import type { TopicSpec } from '../kafka/topic-admin.js'

/**
 * The topics of the design, as configured: the data topic, the nodes topic and the compacted ones
 * (retained, sessions, users, banned, clients, API keys); plus the Kafka topics of mapping rules, created when missing
 * with the data topic's settings.
 */
export function topicSpecs (topics: WharfConfig['topics'], mappedTopics: readonly string[] = [], maxMessageBytes: (topic: string) => number | undefined = () => undefined): TopicSpec[] {
  const mapped = mappedTopics.filter((name) => name !== topics.messages.name)
  const sized = (spec: Omit<TopicSpec, 'max_message_bytes'>): TopicSpec => ({ ...spec, max_message_bytes: maxMessageBytes(spec.name) })
  return [
    sized({ ...topics.messages, compacted: false }),
    ...mapped.map((name) => sized({ ...topics.messages, name, compacted: false })),
    sized({ ...topics.retained, compacted: true }),
    sized({ ...topics.sessions, compacted: true }),
    { ...topics.nodes, compacted: false },
    { ...topics.users, compacted: true },
    { ...topics.banned, compacted: true },
    { ...topics.clients, compacted: true },
    { ...topics.api_keys, compacted: true }
  ]
}
