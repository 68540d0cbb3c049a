import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Logger } from '../../observability/logger.js'

/**
 * Calls `reload` once a watched file has been quiet for `debounceMs` after a change. Watches the
 * file's folder, not the file: editors and config management replace a file (a new inode) rather
 * than write into it, which a watch on the file itself would miss from then on.
 */
export class RulesWatcher {
  private readonly watchers: FSWatcher[] = []
  private timer: NodeJS.Timeout | undefined

  constructor (files: string[], private readonly reload: () => void, logger: Logger, private readonly debounceMs = 200) {
    const log = logger.child({ component: 'authz' })
    const byDir = new Map<string, Set<string>>()
    for (const f of files) {
      const names = byDir.get(dirname(f)) ?? new Set<string>()
      names.add(basename(f))
      byDir.set(dirname(f), names)
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, (_event, name) => {
          if (name === null || names.has(name.toString())) this.schedule()
        })
        w.on('error', err => log.warn({ err, dir }, 'watching the ACL files stopped; reload with SIGHUP'))
        this.watchers.push(w)
      } catch (err) {
        log.warn({ err, dir }, 'cannot watch the ACL files; reload with SIGHUP')
      }
    }
  }

  private schedule (): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.timer = undefined; this.reload() }, this.debounceMs)
    this.timer.unref()
  }

  close (): void {
    clearTimeout(this.timer)
    for (const w of this.watchers) w.close()
  }
}
