/**
 * Imported first by the CLI, before anything loads kafkajs: the kafkajs changes that must be made
 * before its modules are loaded (kafkajs-grouping.ts). Imports nothing of kafkajs itself.
 */
import { patchKafkajsGrouping } from './kafkajs-grouping.js'

patchKafkajsGrouping()
