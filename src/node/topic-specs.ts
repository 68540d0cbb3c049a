import type { WharfConfig } from '../config/index.js'
import type { TopicSpec } from '../kafka/topic-admin.js'

/** The four topics of the design, as configured: the data topic, and the compacted ones. */
export function topicSpecs (topics: WharfConfig['topics']): TopicSpec[] {
  return [
    { ...topics.messages, compacted: false },
    { ...topics.retained, compacted: true },
    { ...topics.sessions, compacted: true },
    { ...topics.nodes, compacted: false }
  ]
}
