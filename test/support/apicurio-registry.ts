import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { javaExecutable } from '../../src/local-kafka/java.js'
import { packageRoot } from '../../src/local-kafka/kafka-jars.js'
import { ensureMavenCache } from '../../src/local-kafka/maven-cache.js'
import { findFreePort } from '../../src/local-kafka/ports.js'
import { tailFile, terminate } from '../../src/local-kafka/process-utils.js'
import type { Logger } from '../../src/observability/logger.js'

/**
 * Apicurio Registry, a real schema registry with a Confluent-compatible API (`/apis/ccompat/v7`),
 * for the tests of `mapping.schema_registry`. 3.0.9 is the newest that runs on Java 17: the 3.3.x
 * builds are compiled for Java 21 (class file version 65) and fail at start with
 * UnsupportedClassVersionError.
 */
export const APICURIO_VERSION = '3.0.9'

const READY_TIMEOUT_MS = 120_000
const run = promisify(execFile)

/** `<package root>/.wharf/apicurio-registry/<version>` (ignored by git, like the Kafka jars). */
export function apicurioDir (version = APICURIO_VERSION): string {
  return join(packageRoot(), '.wharf', 'apicurio-registry', version)
}

/** The runnable jar of the Quarkus build (`<name>-runner.jar` next to its `lib/`). */
function runnerJar (dir: string): string | undefined {
  const jar = readdirSync(dir).find((f) => f.endsWith('-runner.jar'))
  return jar === undefined || !existsSync(join(dir, 'lib')) ? undefined : join(dir, jar)
}

/**
 * Makes sure the registry is unpacked in its cache folder; returns the folder. Maven Central
 * serves the runnable build as `io.apicurio:apicurio-registry-app:<v>:tar.gz:all` (a Quarkus
 * runner jar plus lib/, ~110 MB), but not its parent POM `io.apicurio:apicurio-registry`, so
 * the 3.x dependency plugin's goals fail reading the artifact's descriptor. Version 2.8 of `get`
 * tolerates that and copies the archive (`-Ddest`); `tar` unpacks it (2.8's `unpack` cuts file
 * names longer than 100 characters, one of the registry's jars among them).
 */
export async function ensureApicurio (logger: Logger, version = APICURIO_VERSION): Promise<string> {
  return await ensureMavenCache({
    logger: logger.child({ component: 'apicurio-registry' }),
    dir: apicurioDir(version),
    what: 'Apicurio Registry',
    version,
    pom: '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion><groupId>wharf.local</groupId><artifactId>apicurio</artifactId><version>1</version><packaging>pom</packaging></project>\n',
    fill: async (staging, mvn) => {
      const archive = join(staging, 'registry.tar.gz')
      await mvn(['-q', 'org.apache.maven.plugins:maven-dependency-plugin:2.8:get', `-Dartifact=io.apicurio:apicurio-registry-app:${version}:tar.gz:all`, '-Dtransitive=false', `-Ddest=${archive}`])
      await run('tar', ['xzf', archive, '-C', staging])
      await rm(archive)
    },
    holds: (dir) => runnerJar(dir) !== undefined
  })
}

/** A running Apicurio Registry on 127.0.0.1, in-memory storage (H2), its own temporary folder. */
export class ApicurioRegistry {
  private constructor (
    private readonly proc: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    /** milliseconds from spawn until the ccompat API answered */
    readonly startupMs: number
  ) {}

  /** The Confluent-compatible API: what `mapping.schema_registry.url` points at. */
  get url (): string { return `http://127.0.0.1:${this.port}/apis/ccompat/v7` }
  get pid (): number { return this.proc.pid as number }

  /**
   * Fetches the registry if needed, starts it on free ports (256 MiB heap, serial GC, C1 only:
   * quick to start on 2 cores) and resolves once `GET /subjects` answers 200.
   */
  static async start (logger: Logger, version = APICURIO_VERSION): Promise<ApicurioRegistry> {
    const home = await ensureApicurio(logger, version)
    const jar = runnerJar(home) as string
    const dir = await mkdtemp(join(tmpdir(), 'wharf-apicurio-'))
    const [port, managementPort] = [await findFreePort(), await findFreePort()]
    const out = join(dir, 'registry.out')
    const fd = openSync(out, 'a')
    const started = Date.now()
    let proc: ChildProcess
    try {
      proc = spawn(javaExecutable(), [
        '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:+ExitOnOutOfMemoryError',
        `-Dwharf.apicurio.dir=${dir}`, // tells this process apart (CI's cleanup matches it)
        '-Dquarkus.http.host=127.0.0.1', `-Dquarkus.http.port=${port}`,
        '-Dquarkus.management.host=127.0.0.1', `-Dquarkus.management.port=${managementPort}`,
        `-Djava.io.tmpdir=${dir}`,
        // in-memory H2 (the default storage) with a small connection pool
        '-Dapicurio.storage.kind=sql', '-Dapicurio.storage.sql.kind=h2',
        '-Dapicurio.datasource.jdbc.initial-size=2', '-Dapicurio.datasource.jdbc.min-size=2', '-Dapicurio.datasource.jdbc.max-size=10',
        '-jar', jar
      ], { cwd: dir, stdio: ['ignore', fd, fd] })
    } finally {
      closeSync(fd)
    }
    const exited = new Promise<void>((resolve) => proc.once('exit', () => { resolve() }))
    const deadline = started + READY_TIMEOUT_MS
    for (;;) {
      const answered = await fetch(`http://127.0.0.1:${port}/apis/ccompat/v7/subjects`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false)
      if (answered) return new ApicurioRegistry(proc, dir, port, Date.now() - started)
      const gone = await Promise.race([exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => { resolve(false) }, 250))])
      if (gone || Date.now() > deadline) {
        const tail = tailFile(out, 30)
        await stopRegistry(proc, dir)
        throw new Error(`Apicurio Registry ${gone ? 'exited while starting' : `did not answer within ${READY_TIMEOUT_MS / 1000} s`}:\n${tail}`)
      }
    }
  }

  /** Resident memory of the JVM in KiB (Linux), for the notes. */
  async rssKiB (): Promise<number> {
    const { stdout } = await run('ps', ['-o', 'rss=', '-p', String(this.pid)])
    return Number(stdout.trim())
  }

  /** SIGTERM, SIGKILL after 10 s; removes its folder. */
  async stop (): Promise<void> {
    await stopRegistry(this.proc, this.dir)
  }
}

async function stopRegistry (proc: ChildProcess, dir: string): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) await terminate(proc.pid, 10_000)
  await rm(dir, { recursive: true, force: true })
}
