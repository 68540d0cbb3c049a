import type { Command } from 'commander'
import { ConfigError, loadConfig, type WharfConfig } from '../config/index.js'
import { checkCertificates } from '../listeners/index.js'
import { LocalKafka } from '../local-kafka/local-kafka.js'
import { createLogger, humanLogs, type Logger } from '../observability/logger.js'
import { WharfNode } from '../node/wharf-node.js'
import { applyYoungGc } from '../node/young-gc.js'
import { banner } from './banner.js'

/** Exit code for invalid configuration (the message names the key). */
export const EXIT_CONFIG = 2
const SHUTDOWN_TIMEOUT_MS = 20000

export function registerStartCommand (program: Command): void {
  program
    .command('start')
    .description('run one edge node (starts a local Kafka when kafka.brokers is not configured)')
    .option('-c, --config <file>', 'YAML configuration file (default: $WHARF_CONFIG, else built-in defaults)')
    .action(async (opts: { config?: string }) => {
      const config = loadOrExit(opts.config, { certificates: true })
      const logger = createLogger({ level: config.log.level, node: config.node.name, format: config.log.format })
      const gc = applyYoungGc(config.node.young_gc)
      logger.debug({ youngGc: gc.mode, cpus: gc.cpus }, 'young generation GC')
      await runNode(config, logger)
    })
}

/**
 * Load the configuration or exit 2 with the one-line message that names the key. With
 * `certificates` (wharf start) the TLS listeners' certificate, key and CA files are read too, so
 * a bad one stops the start before a local Kafka or anything else starts; the other commands
 * never open a listener and may run where those files are not.
 */
export function loadOrExit (file: string | undefined, check: { certificates?: boolean } = {}): WharfConfig {
  try {
    const config = loadConfig({ file, env: process.env })
    if (check.certificates === true) checkCertificates(config.listeners)
    return config
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`wharf: ${err.message}\n`)
      process.exit(EXIT_CONFIG)
    }
    throw err
  }
}

async function runNode (config: WharfConfig, logger: Logger): Promise<void> {
  let localKafka: LocalKafka | undefined
  let ownsKafka = false
  let brokers = config.kafka.brokers
  if (brokers === undefined) {
    const local = config.kafka.local
    localKafka = await LocalKafka.attach(local.dir, logger)
    if (localKafka === undefined) {
      logger.info({ dir: local.dir, nodes: local.nodes }, 'kafka.brokers is not configured: starting a local Kafka')
      localKafka = await LocalKafka.start({ dir: local.dir, nodes: local.nodes, port: local.port, heapMb: local.heap_mb, logger })
      ownsKafka = true
    } else {
      logger.info({ dir: local.dir }, 'kafka.brokers is not configured: using the local Kafka already running')
    }
    brokers = localKafka.brokers
    logger.info({ brokers }, 'local Kafka ready')
  }

  // building the node reads the ACL files: a bad one is a configuration error (exit 2)
  let node: WharfNode
  try {
    node = new WharfNode(config, logger, brokers)
  } catch (err) {
    if (ownsKafka) await localKafka?.stop()
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`wharf: ${err.message}\n`)
    process.exit(EXIT_CONFIG)
  }
  let ready = false
  let shuttingDown = false
  const shutdown = (signal: string): void => {
    if (shuttingDown) return
    shuttingDown = true
    logger.info({ signal }, 'shutting down')
    const force = setTimeout(() => {
      logger.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown took too long; exiting')
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS + 30000)
    force.unref()
    const stopNode = ready ? node.stop(SHUTDOWN_TIMEOUT_MS) : Promise.resolve()
    stopNode
      .then(async () => { if (ownsKafka) await localKafka?.stop() })
      .then(() => process.exit(0), err => {
        logger.error({ err }, 'error during shutdown')
        process.exit(1)
      })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  // SIGHUP reads the ACL files and the TLS listeners' certificates again (as a change of the
  // files does); the node keeps running
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading the ACL files and the TLS certificates')
    node.reload()
    node.reloadCertificates()
  })

  try {
    const t0 = Date.now()
    await node.start()
    ready = true
    if (humanLogs(config.log.format)) process.stdout.write(banner(node.summary(), Date.now() - t0, localKafka !== undefined))
  } catch (err) {
    if (ownsKafka) await localKafka?.stop()
    // e.g. mqtt.max_packet_size larger than the Kafka topics accept (found once Kafka answers)
    if (err instanceof ConfigError) {
      logger.fatal({ key: err.key }, err.message)
      process.stderr.write(`wharf: ${err.message}\n`)
      process.exit(EXIT_CONFIG)
    }
    logger.fatal({ err }, 'Wharf node failed to start')
    process.exit(1)
  }
}
