import { join } from 'node:path'
import { LOCALHOST } from './ports.js'

/** Where node `id` (1-based) of a local cluster listens. */
export interface NodePorts {
  id: number
  /** PLAINTEXT listener for clients and replication */
  port: number
  /** CONTROLLER listener for the KRaft quorum */
  controllerPort: number
}

/** Brokers use `base + 2*(i-1)`, controllers the port right after. */
export function nodePorts (base: number, nodes: number): NodePorts[] {
  return Array.from({ length: nodes }, (_, i) => ({ id: i + 1, port: base + 2 * i, controllerPort: base + 2 * i + 1 }))
}

/** The files and folders of node `id` inside a cluster folder. */
export function nodePaths (clusterDir: string, id: number): {
  dir: string
  dataDir: string
  logsDir: string
  serverProperties: string
  log4jProperties: string
  log4j2Config: string
  serverOut: string
  serverLog: string
} {
  const dir = join(clusterDir, `node-${id}`)
  const logsDir = join(dir, 'logs')
  return {
    dir,
    dataDir: join(dir, 'data'),
    logsDir,
    serverProperties: join(dir, 'server.properties'),
    log4jProperties: join(dir, 'log4j.properties'),
    log4j2Config: join(dir, 'log4j2.xml'),
    serverOut: join(dir, 'server.out'),
    serverLog: join(logsDir, 'server.log')
  }
}

export interface ServerPropertiesInput {
  /** 1-based node id */
  id: number
  /** every node of the cluster, this one included */
  nodes: NodePorts[]
  /** log.dirs of this node */
  dataDir: string
  /** more client listeners of this node (each listener name is also its security protocol), e.g. SASL_SSL */
  listeners?: Array<{ name: string; port: number }>
  /** more properties (security settings of those listeners) */
  extra?: Array<[string, string | number]>
}

/** Escapes a value for a java .properties file (backslashes are escapes there). */
function value (v: string | number): string {
  return String(v).replace(/\\/g, '\\\\')
}

/**
 * server.properties for node `id` of a KRaft cluster where every node is broker and controller,
 * sized for a small machine (2 cores, a few hundred MiB of heap per node).
 */
export function serverProperties (input: ServerPropertiesInput): string {
  const n = input.nodes.length
  const self = input.nodes.find((node) => node.id === input.id)
  if (self === undefined) throw new Error(`node ${input.id} is not one of the ${n} nodes`)
  const more = input.listeners ?? []
  const urls = (list: Array<{ name: string; port: number }>): string => list.map(({ name, port }) => `${name}://${LOCALHOST}:${port}`).join(',')
  const clients = [{ name: 'PLAINTEXT', port: self.port }, ...more]
  const props: Array<[string, string | number]> = [
    ['process.roles', 'broker,controller'],
    ['node.id', self.id],
    ['controller.quorum.voters', input.nodes.map((node) => `${node.id}@${LOCALHOST}:${node.controllerPort}`).join(',')],
    ['listeners', urls([...clients, { name: 'CONTROLLER', port: self.controllerPort }])],
    ['advertised.listeners', urls(clients)],
    ['listener.security.protocol.map', ['PLAINTEXT', 'CONTROLLER', ...more.map(({ name }) => name)].map((name) => `${name}:${name === 'CONTROLLER' ? 'PLAINTEXT' : name}`).join(',')],
    ['controller.listener.names', 'CONTROLLER'],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['log.dirs', input.dataDir],
    // threads: two cores
    ['num.network.threads', 2],
    ['num.io.threads', 4],
    ['num.recovery.threads.per.data.dir', 1],
    ['background.threads', 4],
    ['log.cleaner.threads', 1],
    // replication
    ['num.partitions', 3],
    ['default.replication.factor', n],
    ['min.insync.replicas', n >= 3 ? 2 : 1],
    ['offsets.topic.num.partitions', 4],
    ['offsets.topic.replication.factor', n],
    ['transaction.state.log.num.partitions', 4],
    ['transaction.state.log.replication.factor', n],
    ['transaction.state.log.min.isr', Math.min(2, n)],
    ['auto.create.topics.enable', 'false'],
    ['group.initial.rebalance.delay.ms', 0],
    // a killed node is fenced (and its leaderships move) after 6 s instead of 9 s
    ['broker.heartbeat.interval.ms', 1000],
    ['broker.session.timeout.ms', 6000],
    // storage
    ['log.segment.bytes', 64 * 1024 * 1024],
    ['log.cleaner.dedupe.buffer.size', 2 * 1024 * 1024],
    // compacted topics compact soon after a segment rolls (tests rely on it)
    ['log.cleaner.min.compaction.lag.ms', 0],
    ['log.cleaner.backoff.ms', 1000],
    ...(input.extra ?? [])
  ]
  return [
    '# Written by the Wharf local Kafka launcher: edits are overwritten at the next start',
    ...props.map(([k, v]) => `${k}=${value(v)}`),
    ''
  ].join('\n')
}

/** Escapes a value for an XML attribute. */
function xmlAttr (v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Loggers that are chatty at INFO and kept at WARN in both logging configurations. */
const QUIET_LOGGERS = ['kafka.request.logger', 'kafka.authorizer.logger', 'state.change.logger', 'org.apache.kafka.clients']

/**
 * log4j2 configuration for Kafka 4.x (`-Dlog4j2.configurationFile`), the same as the log4j 1 one
 * below: INFO and up to a small rolling server.log (10 MiB, two old files), WARN and up to stdout.
 */
export function log4j2Config (serverLog: string): string {
  const pattern = '[%d] %p %m (%c)%n'
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!-- Written by the Wharf local Kafka launcher: edits are overwritten at the next start -->',
    '<Configuration status="warn">',
    '  <Appenders>',
    `    <Console name="stdout" target="SYSTEM_OUT"><PatternLayout pattern="${pattern}"/></Console>`,
    `    <RollingFile name="file" fileName="${xmlAttr(serverLog)}" filePattern="${xmlAttr(serverLog)}.%i">`,
    `      <PatternLayout pattern="${pattern}"/>`,
    '      <Policies><SizeBasedTriggeringPolicy size="10 MB"/></Policies>',
    '      <DefaultRolloverStrategy max="2" fileIndex="min"/>',
    '    </RollingFile>',
    '  </Appenders>',
    '  <Loggers>',
    '    <Root level="INFO">',
    '      <AppenderRef ref="file"/>',
    '      <AppenderRef ref="stdout" level="WARN"/>',
    '    </Root>',
    ...QUIET_LOGGERS.map((name) => `    <Logger name="${name}" level="WARN"/>`),
    '  </Loggers>',
    '</Configuration>',
    ''
  ].join('\n')
}

/** log4j 1.x (reload4j) configuration: INFO and up to a small rolling server.log, WARN and up to stdout. */
export function log4jProperties (serverLog: string): string {
  return [
    'log4j.rootLogger=INFO, file, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.Threshold=WARN',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.appender.file=org.apache.log4j.RollingFileAppender',
    `log4j.appender.file.File=${value(serverLog)}`,
    'log4j.appender.file.MaxFileSize=10MB',
    'log4j.appender.file.MaxBackupIndex=2',
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    ...QUIET_LOGGERS.map((name) => `log4j.logger.${name}=WARN`),
    ''
  ].join('\n')
}
