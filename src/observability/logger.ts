import { pino, type Logger, type LevelWithSilent } from 'pino'

export type { Logger }

export interface LoggerOptions {
  level: LevelWithSilent
  node?: string
  /** pretty-print when stdout is a terminal (pino-pretty is a dev dependency; falls back to JSON) */
  pretty?: boolean
}

/**
 * The one place a pino root logger is made. Child loggers carry the fields that matter for
 * reading a line on its own: `node`, then `component`, `clientId`, `topic` where they apply.
 */
export function createLogger (opts: LoggerOptions): Logger {
  const base = opts.node === undefined ? {} : { node: opts.node }
  if (opts.pretty === true && process.stdout.isTTY) {
    try {
      return pino({ level: opts.level, base, transport: { target: 'pino-pretty', options: { colorize: true } } })
    } catch {
      // pino-pretty is not installed in production images: JSON lines it is
    }
  }
  return pino({ level: opts.level, base })
}
