import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalKafka } from '../../src/local-kafka/local-kafka.js'
import type { LocalKafkaSecurity } from '../../src/local-kafka/security.js'
import { kafkaVersion } from '../../src/local-kafka/kafka-jars.js'
import { brokerIdsSeenBy } from '../../src/local-kafka/cluster-probe.js'
import { createLogger, type Logger } from '../../src/observability/logger.js'

export interface ProvidedKafka {
  brokers: string[]
  kind: 'external' | 'testcontainers' | 'local'
  stop (): Promise<void>
}

/** How long to wait for a Docker engine to answer before running Kafka locally instead. */
const DOCKER_PROBE_MS = 3000

function defaultLogger (): Logger {
  return createLogger({ level: (process.env.WHARF_TEST_LOG_LEVEL as 'warn' | undefined) ?? 'warn' })
}

/**
 * A real Kafka for the tests, the first that applies:
 * 1. `KAFKA_BROKERS` (comma separated) -> that cluster; `stop` leaves it alone;
 * 2. a reachable Docker engine -> a testcontainers `apache/kafka` container (KRaft);
 * 3. otherwise -> a 1-node LocalKafka in a fresh temporary folder on free ports.
 */
export async function provideKafka (logger: Logger = defaultLogger(), opts: { signal?: AbortSignal } = {}): Promise<ProvidedKafka> {
  const external = parseBrokers(process.env.KAFKA_BROKERS)
  if (external.length > 0) {
    return { brokers: external, kind: 'external', stop: async () => {} }
  }
  if (await dockerAvailable()) {
    return await startKafkaContainer()
  }
  const local = await startPrivateLocalKafka({ nodes: 1, logger, ...(opts.signal === undefined ? {} : { signal: opts.signal }) })
  return { brokers: local.brokers, kind: 'local', stop: async () => { await local.cleanup() } }
}

export function parseBrokers (value: string | undefined): string[] {
  return (value ?? '').split(',').map((b) => b.trim()).filter((b) => b !== '')
}

/** True when testcontainers finds a working container runtime within a few seconds. Quiet otherwise. */
export async function dockerAvailable (timeoutMs = DOCKER_PROBE_MS): Promise<boolean> {
  if (process.env.WHARF_TEST_NO_DOCKER === '1') return false
  let timer: NodeJS.Timeout | undefined
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    const probe = getContainerRuntimeClient().then(() => true, () => false)
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => { resolve(false) }, timeoutMs)
      timer.unref()
    })
    return await Promise.race([probe, timeout])
  } catch {
    return false
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

/**
 * The official `apache/kafka` image in KRaft mode. `@testcontainers/kafka`'s KafkaContainer only
 * drives Confluent images (`cp-kafka`; with `apache/kafka:4.4.0` its `withKraft()` throws because
 * it reads the tag as a Confluent Platform version), so this uses a GenericContainer the way
 * Testcontainers for Java's `org.testcontainers.kafka.KafkaContainer` does: the container waits
 * for a starter script that exports the advertised listener with the host port Docker mapped, then
 * runs the image's own `/etc/kafka/docker/run`.
 */
async function startKafkaContainer (): Promise<ProvidedKafka> {
  const { GenericContainer, Wait } = await import('testcontainers')
  const starter = '/tmp/wharf_start.sh'
  const ready = '/tmp/wharf_start.ready'
  const container = await new GenericContainer(`apache/kafka:${kafkaVersion()}`)
    .withExposedPorts(9092)
    .withEnvironment({
      CLUSTER_ID: '4L6g3nShT-eMCtK--X86sw',
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,BROKER://:9093,CONTROLLER://:9094',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'BROKER:PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      KAFKA_INTER_BROKER_LISTENER_NAME: 'BROKER',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9094',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: '4',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      KAFKA_NUM_PARTITIONS: '3',
      KAFKA_LOG_CLEANER_DEDUPE_BUFFER_SIZE: '2097152',
      KAFKA_LOG_CLEANER_MIN_COMPACTION_LAG_MS: '0'
    })
    .withCommand(['sh', '-c', `echo 'waiting for the starter script'; while [ ! -f ${ready} ]; do sleep 0.1; done; sh ${starter}`])
    .withWaitStrategy(Wait.forLogMessage('waiting for the starter script'))
    .withStartupTimeout(120_000)
    .start()
  const brokers = [`${container.getHost()}:${container.getMappedPort(9092)}`]
  try {
    const script = [
      '#!/bin/sh',
      `export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://${brokers[0] ?? ''},BROKER://localhost:9093`,
      'exec /etc/kafka/docker/run',
      ''
    ].join('\n')
    await container.copyContentToContainer([{ content: script, target: starter, mode: 0o755 }])
    await container.copyContentToContainer([{ content: '', target: ready }])
    await waitForBrokers(brokers, 1, 120_000)
  } catch (err) {
    await container.stop().catch(() => undefined)
    throw err
  }
  return { brokers, kind: 'testcontainers', stop: async () => { await container.stop() } }
}

async function waitForBrokers (brokers: string[], count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const views = await Promise.all(brokers.map(async (broker) => {
      const at = broker.lastIndexOf(':')
      return await brokerIdsSeenBy(Number(broker.slice(at + 1)), broker.slice(0, at))
    }))
    if (views.every((ids) => ids !== undefined && ids.length >= count)) return
    if (Date.now() > deadline) throw new Error(`Kafka at ${brokers.join(',')} was not ready after ${timeoutMs / 1000} s`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

export type PrivateLocalKafka = LocalKafka & {
  /** stops every node and removes the temporary folder */
  cleanup (): Promise<void>
}

/**
 * A LocalKafka of its own, in a fresh temporary folder on free ports, for tests that stop and
 * start Kafka processes (or need 3 nodes). Always `cleanup()` it (in an `after` hook).
 */
export async function startPrivateLocalKafka (opts: { nodes?: 1 | 3; logger?: Logger; heapMb?: number; signal?: AbortSignal; security?: LocalKafkaSecurity } = {}): Promise<PrivateLocalKafka> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-kafka-'))
  let kafka: LocalKafka
  try {
    kafka = await LocalKafka.start({
      dir,
      nodes: opts.nodes ?? 1,
      port: 0,
      logger: opts.logger ?? defaultLogger(),
      ...(opts.heapMb === undefined ? {} : { heapMb: opts.heapMb }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(opts.security === undefined ? {} : { security: opts.security })
    })
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  const cleanup = async (): Promise<void> => {
    try {
      await kafka.stop()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  return Object.assign(kafka, { cleanup })
}
