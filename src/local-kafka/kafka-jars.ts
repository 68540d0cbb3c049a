import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../observability/logger.js'
import { DEPENDENCY_PLUGIN, ensureMavenCache } from './maven-cache.js'

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
 * True when a jar folder holds the server jar and its slf4j binding (a cache made before the
 * binding was added, e.g. a 4.x one without log4j-slf4j-impl, is fetched again).
 */
function holdsKafka (version: string): (dir: string) => boolean {
  const binding = usesLog4j2(version) ? 'log4j-slf4j-impl-' : 'slf4j-reload4j-'
  return (dir) => {
    const files = readdirSync(dir)
    const has = (prefix: string): boolean => files.some((f) => f.startsWith(prefix) && f.endsWith('.jar'))
    return has('kafka_2.13-') && has(binding)
  }
}

export interface EnsureJarsOptions {
  logger: Logger
  version?: string
  dir?: string
}

/**
 * Makes sure the Kafka server jars are in the jar cache and returns its folder. The first call
 * runs Maven's copy-dependencies on a POM of kafka_2.13 (about 20 s with an empty ~/.m2).
 */
export async function ensureKafkaJars (opts: EnsureJarsOptions): Promise<string> {
  const version = opts.version ?? kafkaVersion()
  return await ensureMavenCache({
    logger: opts.logger.child({ component: 'kafka-jars' }),
    dir: opts.dir ?? kafkaJarsDir(version),
    what: 'the Kafka server jars',
    version,
    pom: kafkaPom(version),
    fill: async (staging, mvn) => { await mvn(['-q', `${DEPENDENCY_PLUGIN}:copy-dependencies`, '-DincludeScope=runtime', `-DoutputDirectory=${staging}`]) },
    holds: holdsKafka(version)
  })
}
