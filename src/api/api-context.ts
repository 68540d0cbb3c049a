import type { ApiKeyView } from '../auth/api-keys/api-key-view.js'
import type { BannedView } from '../auth/bans/banned-view.js'
import type { UserRecord } from '../auth/users/user-record.js'
import type { UserView } from '../auth/users/user-view.js'
import type { Membership } from '../cluster/membership.js'
import type { NodeCounters } from '../cluster/node-records.js'
import type { MqttMessage } from '../protocol/message.js'
import type { PresenceView } from '../presence/presence-view.js'
import type { RetainedView } from '../retained/retained-view.js'
import type { SessionRecord } from '../session/session-record.js'
import type { SessionView } from '../session/session-view.js'

/** One node's numbers now (GET /stats, the dashboard, heartbeats, `$SYS`). */
export interface NodeStats extends NodeCounters {
  connections: number
  /** the most connections at once since the node started */
  connectionsMax: number
  /** persistent sessions connected here, and stored in the cluster */
  sessionsLocal: number
  sessionsStored: number
  subscriptions: number
  sharedSubscriptions: number
  retained: number
  uptimeS: number
}

/**
 * What the REST API reads and changes, handed over by the node: the views every node keeps of the
 * cluster (membership, presence, sessions, retained, users, bans, API keys) and the writes that go
 * through Kafka. The API never talks to another node: what it changes elsewhere it writes to Kafka.
 */
export interface ApiContext {
  node: string
  version: string
  membership: Membership
  presence: PresenceView
  sessions: SessionView
  retained: RetainedView
  users: UserView
  banned: BannedView
  apiKeys: ApiKeyView
  stats: () => NodeStats
  /** Prometheus metrics of this node as JSON */
  metricsJson: () => Promise<unknown>
  /** asks the owning node to close that connection (a record in the nodes topic) */
  kick: (clientId: string, owner: { node: string; conn: string }, by: string) => Promise<void>
  /** through the mapping into Kafka, like a device's PUBLISH; resolves on Kafka's acknowledgement */
  publish: (message: MqttMessage) => Promise<void>
  /** writes to the users / banned topics (null = delete); resolve on Kafka's acknowledgement */
  writeUser: (username: string, value: Buffer | null) => Promise<void>
  writeBan: (key: string, value: Buffer | null) => Promise<void>
  /** what a user record keeps of a new password: its hash (`password_hash_algorithm`, pepper) and SCRAM credentials when enabled */
  passwordCredentials: (password: Buffer) => Promise<Pick<UserRecord, 'hash' | 'scram'>>
  /** records in a persistent session's partitions after its cursors (an upper bound of its backlog) */
  sessionBacklog: (session: SessionRecord) => Promise<number | null>
}
