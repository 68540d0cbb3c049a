import { createRequire } from 'node:module'
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino'

export type { Logger }

/** `log.format`: `auto` = human lines when stdout is a terminal, JSON lines otherwise. */
export type LogFormat = 'auto' | 'text' | 'json'

export interface LoggerOptions {
  level: LevelWithSilent
  node?: string
  /** default `json` (what services and tests read); `wharf start` passes `log.format` */
  format?: LogFormat
}

/** Does `format` give human lines on this process' stdout? */
export function humanLogs (format: LogFormat): boolean {
  return format === 'text' || (format === 'auto' && process.stdout.isTTY === true)
}

const require = createRequire(import.meta.url)

/**
 * pino-pretty as a synchronous stream in this thread (no transport worker), colourised on a
 * terminal: time, level, `[component]` and the message, then the other fields on the same line.
 */
function prettyStream (): DestinationStream {
  const pretty = require('pino-pretty') as (options: Record<string, unknown>) => DestinationStream
  return pretty({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,node,component',
    messageFormat: '{if component}[{component}] {end}{msg}',
    singleLine: true
  })
}

/**
 * The one place a pino root logger is made. Child loggers carry the fields that matter for
 * reading a line on its own: `node`, then `component`, `clientId`, `topic` where they apply.
 * JSON lines (one object per line) unless `format` asks for human lines (pino-pretty).
 */
export function createLogger (opts: LoggerOptions): Logger {
  const base = opts.node === undefined ? {} : { node: opts.node }
  if (humanLogs(opts.format ?? 'json')) return pino({ level: opts.level, base }, prettyStream())
  return pino({ level: opts.level, base })
}
