import { createHash } from 'node:crypto'

/** How a node picks the member of a shared group that gets a message (EMQX's names). */
export const STRATEGIES = ['round_robin', 'random', 'sticky', 'hash_clientid', 'hash_topic'] as const
export type Strategy = typeof STRATEGIES[number]

export interface Pick {
  /** the publishing client id (hash_clientid) and the MQTT topic (hash_topic) */
  publisher: string | undefined
  topic: string
}

/** A member chooser of one group on one node; `members` is never empty. */
export type Chooser<M> = (members: readonly M[], pick: Pick) => M

function hash (s: string): number {
  return createHash('md5').update(s).digest().readUInt32BE(0)
}

export function chooser<M> (strategy: Strategy): Chooser<M> {
  switch (strategy) {
    case 'round_robin': {
      let next = 0
      return (members) => members[next++ % members.length] as M
    }
    case 'random':
      return (members) => members[Math.floor(Math.random() * members.length)] as M
    case 'sticky': {
      let current: M | undefined
      return (members) => {
        if (current === undefined || !members.includes(current)) current = members[Math.floor(Math.random() * members.length)] as M
        return current
      }
    }
    case 'hash_clientid':
      return (members, pick) => members[hash(pick.publisher ?? '') % members.length] as M
    case 'hash_topic':
      return (members, pick) => members[hash(pick.topic) % members.length] as M
  }
}
