import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }

/** The package version, reported in logs, heartbeats and `wharf --version`. */
export const VERSION: string = pkg.version
