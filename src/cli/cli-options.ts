import { InvalidArgumentError } from 'commander'
import { pino } from 'pino'
import type { Logger } from '../observability/logger.js'

/**
 * The logger of the commands that are not a node (`wharf kafka ...`, `wharf dev`, `wharf cluster`):
 * warnings and errors as JSON lines on stderr, because stdout carries the command's own output,
 * which scripts read (`KAFKA_BROKERS=...`). `WHARF_LOG_LEVEL` lowers it.
 */
export function cliLogger (component: string): Logger {
  return pino({ level: process.env.WHARF_LOG_LEVEL ?? 'warn', base: { component } }, pino.destination(2))
}

/** `--nodes` / `--kafka-nodes` of a local Kafka. */
export function parseKafkaNodes (value: string): 1 | 3 {
  if (value === '1') return 1
  if (value === '3') return 3
  throw new InvalidArgumentError('a local Kafka has 1 or 3 nodes')
}

/** A port option from `min` (0 = free ports, where the command allows it) to 65000. */
export function portParser (min: 0 | 1): (value: string) => number {
  return (value) => {
    const port = Number(value)
    if (!/^\d+$/.test(value) || port < min || port > 65000) {
      throw new InvalidArgumentError(min === 0 ? 'a TCP port number (0-65000; 0 = free ports)' : 'a TCP port number (1-65000)')
    }
    return port
  }
}
