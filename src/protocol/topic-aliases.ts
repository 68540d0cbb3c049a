/**
 * The topic aliases a server uses towards one MQTT 5 connection (3.3.2.3.4): at most `max`
 * aliases (the client's Topic Alias Maximum, capped by the server's), numbered 1..max. A topic
 * seen for the first time takes a free alias, or, when all are taken, the alias of the topic
 * used least recently (the PUBLISH that re-maps it carries the topic, so the client learns the new
 * mapping [MQTT-3.3.2-12]). Pure and per connection: a new connection starts with an empty table.
 */
export class TopicAliases {
  /** topic -> alias; Map order is recency (least recently used first) */
  private readonly byTopic = new Map<string, number>()

  constructor (private readonly max: number) {}

  /**
   * The alias to send `topic` with, and whether the client knows it already (then the PUBLISH
   * carries an empty topic) or learns it now (the topic and the alias).
   */
  aliasFor (topic: string): { alias: number; known: boolean } | undefined {
    if (this.max <= 0 || topic.length === 0) return undefined
    const had = this.byTopic.get(topic)
    if (had !== undefined) {
      // most recently used now
      this.byTopic.delete(topic)
      this.byTopic.set(topic, had)
      return { alias: had, known: true }
    }
    let alias = this.byTopic.size + 1
    if (alias > this.max) {
      const [oldest, reused] = this.byTopic.entries().next().value as [string, number]
      this.byTopic.delete(oldest)
      alias = reused
    }
    this.byTopic.set(topic, alias)
    return { alias, known: false }
  }
}
