import { watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'
import type { SslOptions } from '../config/listeners-schema.js'
import type { Logger } from '../observability/logger.js'
import { loadTls, type LoadedTls } from './tls-options.js'

/** What one reload attempt of a listener's certificate files did. */
export interface ReloadResult {
  listener: string
  /** `unchanged`: the files hold what is in use; `failed`: the old certificate stays. */
  outcome: 'reloaded' | 'unchanged' | 'failed'
  /** For `failed`: the configuration error, naming the key (`listeners.ssl.default.ssl_options.certfile: ...`). */
  error?: string
}

export interface CertificateReloaderOptions {
  listener: string
  /** `listeners.<kind>.<name>.ssl_options`, to name the key of a file that fails */
  keyPrefix: string
  ssl: SslOptions
  /** Quiet time after the last file event before reloading (an editor or a Kubernetes secret update writes several). */
  debounceMs: number
  /** Puts a new certificate in use for new connections (server.setSecureContext). */
  apply: (loaded: LoadedTls) => void
  /** Told of every attempt, from the watcher or from `reload()`. */
  onResult: (result: ReloadResult) => void
  logger: Logger
}

/**
 * Keeps a TLS listener's certificate, key and CA current without a restart. It watches the
 * folders that hold the files (a Kubernetes secret is updated by swapping a symlink in the
 * folder, which a watch on the file itself would miss) and reloads after `debounceMs` of quiet;
 * `reload()` does the same at once (SIGHUP). A reload that fails keeps the certificate in use.
 */
export class CertificateReloader {
  private readonly watchers: FSWatcher[] = []
  private timer: NodeJS.Timeout | undefined
  private digest: string

  constructor (private readonly opts: CertificateReloaderOptions, current: LoadedTls) {
    this.digest = current.digest
  }

  /** Starts watching; a folder that cannot be watched is logged (SIGHUP still works). */
  watch (): void {
    const files = [this.opts.ssl.certfile, this.opts.ssl.keyfile, this.opts.ssl.cacertfile].filter((f): f is string => f !== undefined)
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.schedule())
        watcher.on('error', (err) => this.opts.logger.warn({ err, listener: this.opts.listener, dir }, 'certificate folder watch failed; reload on SIGHUP'))
        this.watchers.push(watcher)
      } catch (err) {
        this.opts.logger.warn({ err, listener: this.opts.listener, dir }, 'cannot watch the certificate folder; reload on SIGHUP')
      }
    }
  }

  private schedule (): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.reload() }, this.opts.debounceMs)
    this.timer.unref()
  }

  /** Reads the files now; a changed, valid set goes in use for new connections. */
  reload (): ReloadResult {
    clearTimeout(this.timer)
    const { listener, logger } = this.opts
    let result: ReloadResult
    try {
      const loaded = loadTls(this.opts.keyPrefix, this.opts.ssl)
      if (loaded.digest === this.digest) {
        result = { listener, outcome: 'unchanged' }
      } else {
        this.opts.apply(loaded)
        this.digest = loaded.digest
        result = { listener, outcome: 'reloaded' }
        logger.info({ listener, subject: loaded.subject, validTo: loaded.validTo }, 'TLS certificate reloaded: new connections use it')
      }
    } catch (err) {
      result = { listener, outcome: 'failed', error: (err as Error).message }
      logger.error({ listener, error: result.error }, 'TLS certificate reload failed: keeping the certificate in use')
    }
    this.opts.onResult(result)
    return result
  }

  stop (): void {
    clearTimeout(this.timer)
    for (const w of this.watchers.splice(0)) w.close()
  }
}
