/**
 * A set of topic filters, counted (the same filter held by two subscriptions is there until both
 * leave), that answers "does any filter match this topic?" by walking the topic's levels once:
 * the question every record read from Kafka is asked before it is decoded. MQTT 3.1.1 section 4.7:
 * `+` is one level, `#` (last) the parent and everything below, and a filter starting with a
 * wildcard does not match a topic starting with `$` [MQTT-4.7.2-1].
 */
export class FilterTrie {
  private readonly root = new TrieNode()
  private filters = 0

  /** Distinct filters held. */
  get size (): number { return this.filters }

  /** Adds one holder of `filter`; true when the filter was not held before. */
  add (filter: string): boolean {
    let node = this.root
    for (const level of filter.split('/')) {
      let next = node.children.get(level)
      if (next === undefined) node.children.set(level, next = new TrieNode())
      node = next
    }
    node.count++
    if (node.count === 1) this.filters++
    return node.count === 1
  }

  /** Removes one holder of `filter`; true when the last holder left. */
  remove (filter: string): boolean {
    const path: TrieNode[] = [this.root]
    const levels = filter.split('/')
    for (const level of levels) {
      const next = path[path.length - 1]?.children.get(level)
      if (next === undefined) return false
      path.push(next)
    }
    const leaf = path[path.length - 1] as TrieNode
    if (leaf.count === 0) return false
    leaf.count--
    if (leaf.count > 0) return false
    this.filters--
    // prune empty branches
    for (let i = levels.length; i > 0; i--) {
      const node = path[i] as TrieNode
      if (node.count > 0 || node.children.size > 0) break
      ;(path[i - 1] as TrieNode).children.delete(levels[i - 1] as string)
    }
    return true
  }

  /** Does any filter match `topic`? */
  matchesAny (topic: string): boolean {
    if (this.filters === 0) return false
    return match(this.root, topic, 0, topic.charCodeAt(0) === 36 /* $ */)
  }
}

class TrieNode {
  readonly children = new Map<string, TrieNode>()
  /** holders of the filter that ends here */
  count = 0
}

/** Does a filter below `node` match the topic from offset `pos` (the start of a level)? */
function match (node: TrieNode, topic: string, pos: number, dollarRoot: boolean): boolean {
  // `#` here matches this level and everything below, also the parent ("a/#" matches "a")
  if (!dollarRoot) {
    const hash = node.children.get('#')
    if (hash !== undefined && hash.count > 0) return true
  }
  let end = topic.indexOf('/', pos)
  if (end === -1) end = topic.length
  const level = topic.slice(pos, end)
  const last = end === topic.length
  const exact = node.children.get(level)
  if (exact !== undefined && (last ? matchesHere(exact) : match(exact, topic, end + 1, false))) return true
  if (!dollarRoot) {
    const plus = node.children.get('+')
    if (plus !== undefined && (last ? matchesHere(plus) : match(plus, topic, end + 1, false))) return true
  }
  return false
}

/** The topic ended at this node: a filter ending here, or one ending in `/#` right below, matches. */
function matchesHere (node: TrieNode): boolean {
  if (node.count > 0) return true
  const hash = node.children.get('#')
  return hash !== undefined && hash.count > 0
}
