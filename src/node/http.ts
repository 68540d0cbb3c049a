import type { ApiContext } from '../api/api-context.js'
import { HttpServer, type ReadinessReport } from '../api/http-server.js'
import { userCredentials } from '../auth/users/user-credentials.js'
import type { WharfConfig } from '../config/index.js'
import { tpKey } from '../kafka/topic-partition.js'
import { loadTls, tlsServerOptions } from '../listeners/tls-options.js'
import type { Logger } from '../observability/logger.js'
import type { SessionRecord } from '../session/session-record.js'
import { VERSION } from '../version.js'
import type { NodeParts } from './build.js'
import { nodeStats } from './node-stats.js'

/**
 * The node's HTTP port: health, readiness, Prometheus, and the REST API and dashboard over the
 * node's parts (`ApiContext`). HTTPS when `http.ssl_options` is set (its files are read here: a
 * bad one is a configuration error naming the key).
 */
export function createHttpServer (config: WharfConfig, p: NodeParts, readiness: () => ReadinessReport, startedAt: () => number, logger: Logger): HttpServer {
  const ssl = config.http.ssl_options
  const tls = ssl === undefined ? undefined : tlsServerOptions(loadTls('http.ssl_options', ssl), ssl)
  return new HttpServer({
    readiness,
    metrics: { contentType: p.metrics.registry.contentType, metrics: () => p.metrics.registry.metrics() },
    api: apiContext(config, p, startedAt),
    metricsNeedKey: config.prometheus.enable_basic_auth,
    dashboard: config.http.dashboard,
    ...(tls === undefined ? {} : { tls }),
    logger
  })
}

function apiContext (config: WharfConfig, p: NodeParts, startedAt: () => number): ApiContext {
  const write = (topic: string) => (key: string, value: Buffer | null): Promise<void> => p.producer.send({ topic, key, value })
  const a = config.authentication
  return {
    node: config.node.name,
    version: VERSION,
    membership: p.membership,
    presence: p.ops.presenceView,
    sessions: p.sessionView,
    retained: p.retained.view,
    users: p.users,
    banned: p.banned,
    apiKeys: p.ops.apiKeys,
    stats: () => nodeStats(p, startedAt()),
    metricsJson: () => p.metrics.registry.getMetricsAsJSON(),
    kick: p.ops.kick,
    publish: p.ops.publish,
    writeUser: write(config.topics.users.name),
    writeBan: write(config.topics.banned.name),
    passwordCredentials: (password) => userCredentials(password, { hash: a.password_hash_algorithm, pepper: a.password_hash_salt, scramIterations: a.scram.enable ? a.scram.iteration_count : undefined }),
    sessionBacklog: (s) => sessionBacklog(p, s)
  }
}

/** Records after a session's cursors in its partitions: at most that many messages wait for it. */
async function sessionBacklog (p: NodeParts, s: SessionRecord): Promise<number | null> {
  const partitions = Object.entries(s.cursors).flatMap(([topic, byPartition]) => Object.keys(byPartition).map(partition => ({ topic, partition: Number(partition) })))
  if (partitions.length === 0) return 0
  try {
    const ends = await p.fetchers.views.latestOffsets(partitions)
    let n = 0n
    for (const { topic, partition } of partitions) {
      const end = ends.get(tpKey(topic, partition))
      const cursor = BigInt(s.cursors[topic]?.[String(partition)] ?? '0')
      if (end !== undefined && end > cursor) n += end - cursor
    }
    return Number(n)
  } catch {
    return null
  }
}
