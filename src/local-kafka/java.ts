import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { classPath, usesLog4j2 } from './kafka-jars.js'
import { nodePaths } from './server-properties.js'

/** `$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from the PATH. */
export function javaExecutable (): string {
  const home = process.env.JAVA_HOME
  if (home !== undefined && home !== '') {
    const candidate = join(home, 'bin', 'java')
    if (existsSync(candidate)) return candidate
  }
  return 'java'
}

/**
 * A command-line argument that names the node's folder: it tells our Kafka processes apart
 * from any other process that got the same pid later (see `isProcessAlive`).
 */
export function nodeMarker (clusterDir: string, id: number): string {
  return `-Dwharf.kafka.node=${nodePaths(clusterDir, id).dir}`
}

function javaNotFound (err: NodeJS.ErrnoException): Error {
  return err.code === 'ENOENT'
    ? new Error('java is not on the PATH (nor in $JAVA_HOME/bin): a JDK or JRE 17+ is needed to run a local Kafka')
    : err
}

/** The system property that points the node's logging at its configuration: log4j2 for 4.x, log4j 1 for 3.x. */
function loggingArg (version: string, clusterDir: string, id: number): string {
  const paths = nodePaths(clusterDir, id)
  return usesLog4j2(version)
    ? `-Dlog4j2.configurationFile=${paths.log4j2Config}`
    : `-Dlog4j.configuration=${pathToFileURL(paths.log4jProperties).href}`
}

/**
 * `kafka.tools.StorageTool format`: writes meta.properties into the node's log dir. `extraArgs`
 * go after the standard ones (e.g. `--add-scram` to create SCRAM users with the metadata).
 */
export async function formatStorage (opts: { jarsDir: string; version: string; clusterDir: string; id: number; clusterId: string; extraArgs?: string[] }): Promise<void> {
  const paths = nodePaths(opts.clusterDir, opts.id)
  const args = [
    '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
    loggingArg(opts.version, opts.clusterDir, opts.id),
    '-cp', classPath(opts.jarsDir),
    'kafka.tools.StorageTool', 'format', '-t', opts.clusterId, '-c', paths.serverProperties, '-g',
    ...(opts.extraArgs ?? [])
  ]
  const output: string[] = []
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(javaExecutable(), args, { cwd: paths.dir, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.setEncoding('utf8').on('data', (d: string) => output.push(d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => output.push(d))
    child.once('error', (err) => { reject(javaNotFound(err)) })
    child.once('close', resolve)
  })
  if (code !== 0) {
    throw new Error(`formatting the storage of Kafka node ${opts.id} failed (exit code ${String(code)}):\n${output.join('').trimEnd()}`)
  }
}

/**
 * The Kafka JVM's garbage collector. `serial` (the default): the least CPU and memory on a small
 * machine, but every young collection stops all requests (tens to hundreds of ms under load).
 * `g1`: what Kafka's own start scripts use (`kafka-run-class.sh`), pauses aimed at 20 ms.
 */
export type KafkaGc = 'serial' | 'g1'

const GC_ARGS: Record<KafkaGc, string[]> = {
  serial: ['-XX:+UseSerialGC'],
  g1: ['-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:InitiatingHeapOccupancyPercent=35', '-XX:+ExplicitGCInvokesConcurrent']
}

/**
 * Starts one Kafka node: detached (its own process group, so a Ctrl-C in the launching terminal
 * does not reach it), stdout and stderr appended to `server.out`. Resolves once the process exists.
 */
export async function spawnKafkaNode (opts: { jarsDir: string; version: string; clusterDir: string; id: number; heapMb: number; gc?: KafkaGc | undefined }): Promise<ChildProcess> {
  const paths = nodePaths(opts.clusterDir, opts.id)
  const args = [
    `-Xms${opts.heapMb}m`, `-Xmx${opts.heapMb}m`,
    ...GC_ARGS[opts.gc ?? 'serial'], '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    loggingArg(opts.version, opts.clusterDir, opts.id),
    `-Dkafka.logs.dir=${paths.logsDir}`,
    nodeMarker(opts.clusterDir, opts.id),
    '-cp', classPath(opts.jarsDir),
    'kafka.Kafka', paths.serverProperties
  ]
  const out = openSync(paths.serverOut, 'a')
  try {
    const child = spawn(javaExecutable(), args, { cwd: paths.dir, detached: true, stdio: ['ignore', out, out] })
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve)
      child.once('error', (err) => { reject(javaNotFound(err)) })
    })
    child.unref()
    return child
  } finally {
    closeSync(out)
  }
}
