import { readFileSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A static file of the dashboard, read once at start. */
export interface StaticFile { type: string; body: Buffer }

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png'
}

/**
 * The web dashboard's files by URL path: the repository's `dashboard/` folder (`../../dashboard`
 * from both src/api and dist/api, shipped like `schemas/`) under `/dashboard/`, its `index.html`
 * also at `/`, and uPlot's browser build from node_modules (a dependency, installed by `npm ci`).
 * Nothing is fetched from the network at run time.
 */
export function loadDashboardFiles (): Map<string, StaticFile> {
  const dir = fileURLToPath(new URL('../../dashboard/', import.meta.url))
  const files = new Map<string, StaticFile>()
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)]
    if (type !== undefined) files.set(`/dashboard/${name}`, { type, body: readFileSync(join(dir, name)) })
  }
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot'))
  files.set('/dashboard/uPlot.iife.min.js', { type: TYPES['.js'] as string, body: readFileSync(join(uplot, 'uPlot.iife.min.js')) })
  files.set('/dashboard/uPlot.min.css', { type: TYPES['.css'] as string, body: readFileSync(join(uplot, 'uPlot.min.css')) })
  const index = files.get('/dashboard/index.html')
  if (index !== undefined) files.set('/', index)
  return files
}
