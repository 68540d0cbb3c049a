import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../observability/logger.js'

/** The Kafka version the launcher runs and the tests are known to pass against. */
export const PINNED_KAFKA_VERSION = '4.4.0'

/** The 3.x version a short integration subset also runs against (`npm run test:kafka39`). */
export const KAFKA_3_VERSION = '3.9.1'

/**
 * The log4j2 version of the slf4j binding added to Kafka 4.x: its POM brings log4j-api and
 * log4j-core but no slf4j binding, so without one the broker would log nothing at all. All three
 * log4j2 artifacts are declared at this one version so Maven never mixes two.
 */
const LOG4J2_VERSION = '2.25.5'

/** True for the Kafka versions that log through log4j2 (4.0 and later); 3.x uses log4j 1 (reload4j). */
export function usesLog4j2 (version: string): boolean {
  const major = Number(/^(\d+)\./.exec(version)?.[1] ?? NaN)
  return Number.isFinite(major) && major >= 4
}

const MARKER = '.wharf-complete'
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies'

/** `WHARF_KAFKA_VERSION` when set (for experiments), else the pinned version. */
export function kafkaVersion (): string {
  const fromEnv = process.env.WHARF_KAFKA_VERSION?.trim()
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : PINNED_KAFKA_VERSION
}

/** The folder holding this package's package.json, found from this module's own location. */
export function packageRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find package.json above ' + fileURLToPath(import.meta.url))
    dir = parent
  }
}

/** `WHARF_KAFKA_JARS_DIR` when set, else `<package root>/.wharf/kafka-jars/<version>`. */
export function kafkaJarsDir (version = kafkaVersion()): string {
  const fromEnv = process.env.WHARF_KAFKA_JARS_DIR?.trim()
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv)
  return join(packageRoot(), '.wharf', 'kafka-jars', version)
}

/** The java class path for the jars in `dir`. */
export function classPath (dir: string): string {
  return join(dir, '*')
}

/**
 * A POM whose runtime dependencies are a Kafka server. The published POM of kafka_2.13 leaves the
 * slf4j binding out, so it is added explicitly: reload4j for 3.x, log4j2 (`log4j-slf4j-impl`, for
 * the slf4j 1.7 API that Kafka 4.x still uses) for 4.x.
 */
export function kafkaPom (version: string): string {
  const logging = usesLog4j2(version)
    ? ['log4j-api', 'log4j-core', 'log4j-slf4j-impl'].map((a) => `
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>${a}</artifactId><version>${LOG4J2_VERSION}</version></dependency>`).join('')
    : `
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>`
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>wharf.local</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>${version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${version}</version></dependency>${logging}
  </dependencies>
</project>
`
}

/**
 * True when `dir` holds a finished download of `version` with its slf4j binding (a cache made
 * before the binding was added, e.g. a 4.x one without log4j-slf4j-impl, is fetched again).
 */
function isComplete (dir: string, version: string): boolean {
  try {
    const marker = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as { version?: string }
    const files = readdirSync(dir)
    const binding = usesLog4j2(version) ? 'log4j-slf4j-impl-' : 'slf4j-reload4j-'
    const has = (prefix: string): boolean => files.some((f) => f.startsWith(prefix) && f.endsWith('.jar'))
    return marker.version === version && has('kafka_2.13-') && has(binding)
  } catch {
    return false
  }
}

export interface EnsureJarsOptions {
  logger: Logger
  version?: string
  dir?: string
}

/**
 * Makes sure the Kafka server jars are in the jar cache and returns its folder. The first call
 * writes a POM and runs Maven (about 20 s with an empty ~/.m2); the jars are copied into a
 * staging folder that is renamed into place with a marker file, so a half-finished download is
 * never mistaken for a complete one and two processes racing here both end up with the same jars.
 */
export async function ensureKafkaJars (opts: EnsureJarsOptions): Promise<string> {
  const version = opts.version ?? kafkaVersion()
  const dir = opts.dir ?? kafkaJarsDir(version)
  if (isComplete(dir, version)) return dir

  const log = opts.logger.child({ component: 'kafka-jars' })
  const staging = `${dir}.partial-${process.pid}-${Date.now()}`
  const started = Date.now()
  log.info({ version, dir }, 'fetching the Kafka server jars with Maven (once per version)')
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
  try {
    await writeFile(join(staging, 'pom.xml'), kafkaPom(version))
    await runMaven(staging, ['-q', '-B', DEPENDENCY_PLUGIN, '-DincludeScope=runtime', `-DoutputDirectory=${staging}`])
    await writeFile(join(staging, MARKER), JSON.stringify({ version, at: new Date().toISOString() }) + '\n')
    if (isComplete(dir, version)) {
      // another process finished first
      await rm(staging, { recursive: true, force: true })
      return dir
    }
    await rm(dir, { recursive: true, force: true })
    await mkdir(dirname(dir), { recursive: true })
    try {
      await rename(staging, dir)
    } catch (err) {
      if (!isComplete(dir, version)) throw err
      await rm(staging, { recursive: true, force: true })
    }
  } catch (err) {
    await rm(staging, { recursive: true, force: true })
    throw err
  }
  log.info({ version, dir, ms: Date.now() - started }, 'Kafka server jars ready')
  return dir
}

async function runMaven (cwd: string, args: string[]): Promise<void> {
  const output: string[] = []
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('mvn', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.setEncoding('utf8').on('data', (d: string) => output.push(d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => output.push(d))
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT'
        ? new Error('Maven (mvn) is not on the PATH: it is needed once to fetch the Kafka server jars (or set KAFKA_BROKERS to use an existing Kafka)')
        : err)
    })
    child.once('close', resolve)
  })
  if (code !== 0) {
    const tail = output.join('').trimEnd().split('\n').slice(-30).join('\n')
    throw new Error(`mvn ${args.join(' ')} failed with exit code ${String(code)} in ${cwd}:\n${tail}`)
  }
}
