import { resolve } from 'node:path'
import type { Command } from 'commander'
import { LocalKafka, type LocalKafkaNodeStatus } from '../local-kafka/local-kafka.js'
import { readState } from '../local-kafka/state.js'
import { cliLogger, parseKafkaNodes, portParser } from './cli-options.js'

const DEFAULT_DIR = '.wharf/kafka'
const DEFAULT_PORT = 9092

function printBrokers (kafka: LocalKafka, status: LocalKafkaNodeStatus[]): void {
  for (const node of status) {
    console.log(`broker ${node.id}: 127.0.0.1:${node.port} (pid ${node.pid ?? '-'}${node.alive ? '' : ', not running'})`)
  }
  console.log(`KAFKA_BROKERS=${kafka.brokers.join(',')}`)
}

function printStatus (status: LocalKafkaNodeStatus[]): void {
  for (const node of status) {
    console.log(`node ${node.id}  127.0.0.1:${node.port}  pid ${node.pid ?? '-'}  ${node.alive ? 'alive' : 'not running'}`)
  }
}

export function registerKafkaCommands (program: Command): void {
  const kafka = program
    .command('kafka')
    .description('run a real Apache Kafka (KRaft) on 127.0.0.1 from the Maven jars, for development and tests (needs java and mvn)')

  kafka
    .command('start')
    .description('start a local Kafka in the background and print its brokers')
    .option('--nodes <n>', 'number of nodes: 1 or 3', parseKafkaNodes, 1 as 1 | 3)
    .option('--dir <dir>', 'folder for data, logs and state', DEFAULT_DIR)
    .option('--port <port>', 'client port of broker 1 (broker i: port + 2*(i-1); controllers the port after)', portParser(1), DEFAULT_PORT)
    .action(async (opts: { nodes: 1 | 3; dir: string; port: number }) => {
      const logger = cliLogger('cli')
      const dir = resolve(opts.dir)
      const running = await LocalKafka.attach(dir, logger)
      if (running !== undefined) {
        console.log(`Kafka is already running in ${dir}`)
        printBrokers(running, await running.status())
        return
      }
      console.log(`starting a ${opts.nodes}-node Kafka in ${dir} ...`)
      // Ctrl-C while starting: the nodes run in their own process groups, so the start kills them
      const aborter = new AbortController()
      const interrupted = (): void => { aborter.abort() }
      process.once('SIGINT', interrupted)
      process.once('SIGTERM', interrupted)
      try {
        const started = Date.now()
        const local = await LocalKafka.start({ dir, nodes: opts.nodes, port: opts.port, logger, signal: aborter.signal })
        console.log(`Kafka ${local.version} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)
        printBrokers(local, await local.status())
      } catch (err) {
        console.error(aborter.signal.aborted ? 'wharf kafka start: interrupted, nothing left running' : `wharf kafka start: ${(err as Error).message}`)
        process.exitCode = aborter.signal.aborted ? 130 : 1
      } finally {
        process.removeListener('SIGINT', interrupted)
        process.removeListener('SIGTERM', interrupted)
      }
    })

  kafka
    .command('stop')
    .description('stop the local Kafka running in a folder (its data stays)')
    .option('--dir <dir>', 'folder of the local Kafka', DEFAULT_DIR)
    .action(async (opts: { dir: string }) => {
      const dir = resolve(opts.dir)
      const running = await LocalKafka.attach(dir, cliLogger('cli'))
      if (running === undefined) {
        console.log(`no Kafka is running in ${dir}`)
        return
      }
      const started = Date.now()
      await running.stop()
      console.log(`Kafka in ${dir} stopped (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    })

  kafka
    .command('status')
    .description('print the nodes of the local Kafka in a folder; exit code 0 when all of them run')
    .option('--dir <dir>', 'folder of the local Kafka', DEFAULT_DIR)
    .action(async (opts: { dir: string }) => {
      const dir = resolve(opts.dir)
      const status = await LocalKafka.statusOf(dir)
      if (status === undefined) {
        console.log(`no Kafka in ${dir}`)
        process.exitCode = 1
        return
      }
      const state = await readState(dir)
      const alive = status.filter((node) => node.alive).length
      console.log(`Kafka ${state?.version ?? ''} in ${dir}: ${alive} of ${status.length} node(s) running`)
      printStatus(status)
      if (alive === status.length) {
        console.log(`KAFKA_BROKERS=${status.map((node) => `127.0.0.1:${node.port}`).join(',')}`)
      } else {
        process.exitCode = 1
      }
    })
}
