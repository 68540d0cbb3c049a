/**
 * `npm test`: provides one real Kafka (KAFKA_BROKERS, else Docker via testcontainers, else a local
 * Kafka from the Maven jars), runs the test files with node:test against it, and always stops it.
 *
 *   node --import tsx test/run.ts [files...]
 *
 * Files default to test/unit/** then test/integration/** (`*.test.ts`, sorted).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { provideKafka, type ProvidedKafka } from './support/kafka.js'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))

function testFiles (dir: string): string[] {
  if (!existsSync(dir)) return []
  const found: string[] = []
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(relative(root, path))
    }
  }
  walk(dir)
  return found.sort()
}

const args = process.argv.slice(2)
const files = args.length > 0 ? args : [...testFiles(join(root, 'test', 'unit')), ...testFiles(join(root, 'test', 'integration'))]
if (files.length === 0) {
  console.error('no test files found')
  process.exit(1)
}

let kafka: ProvidedKafka | undefined
let child: ChildProcess | undefined
let stopping: Promise<void> | undefined

async function stopKafka (): Promise<void> {
  stopping ??= (async () => {
    if (kafka === undefined) return
    const started = Date.now()
    try {
      await kafka.stop()
      if (kafka.kind !== 'external') console.log(`# Kafka (${kafka.kind}) stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    } catch (err) {
      console.error(`# stopping Kafka failed: ${(err as Error).message}`)
    }
  })()
  await stopping
}

let signalled = false
const aborter = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (signalled) return
    signalled = true
    console.error(`# ${signal}: stopping the tests and Kafka`)
    // while Kafka is starting, the abort makes the start kill what it started and reject
    aborter.abort()
    child?.kill(signal)
    if (kafka !== undefined) void stopKafka().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  })
}

let exitCode = 1
try {
  const started = Date.now()
  kafka = await provideKafka(undefined, { signal: aborter.signal })
  const readyMs = Date.now() - started
  console.log(`# Kafka: ${kafka.kind} at ${kafka.brokers.join(',')} (ready in ${(readyMs / 1000).toFixed(1)} s)`)
  if (!signalled) {
    const testArgs = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files]
    exitCode = await new Promise<number>((resolve) => {
      child = spawn(process.execPath, testArgs, {
        cwd: root,
        stdio: 'inherit',
        env: { ...process.env, KAFKA_BROKERS: kafka?.brokers.join(','), KAFKAJS_NO_PARTITIONER_WARNING: '1' }
      })
      child.once('error', (err) => {
        console.error(`# cannot run the tests: ${err.message}`)
        resolve(1)
      })
      child.once('exit', (code, signal) => { resolve(code ?? (signal === null ? 1 : 128)) })
    })
  }
} catch (err) {
  if (!signalled) console.error(`# no Kafka for the tests: ${(err as Error).message}`)
  exitCode = 1
} finally {
  await stopKafka()
}
process.exit(signalled ? 130 : exitCode)
