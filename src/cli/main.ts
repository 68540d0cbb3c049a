#!/usr/bin/env node
// first: kafkajs changes that must precede its loading (kafka/kafkajs-preload.ts)
import '../kafka/kafkajs-preload.js'
import { Command } from 'commander'
import { registerStartCommand } from './start-command.js'
import { registerKafkaCommands } from './kafka-commands.js'
import { registerClusterCommands } from './cluster-command.js'
import { registerDevCommand } from './dev-command.js'
import { registerUsersCommands } from './users-command.js'
import { registerBannedCommands } from './banned-command.js'
import { registerApiKeysCommands } from './api-keys-command.js'
import { registerClientsCommands } from './clients-command.js'
import { VERSION } from '../version.js'

const program = new Command()
program
  .name('wharf')
  .description('Wharf: an MQTT broker whose cluster is Apache Kafka')
  .version(VERSION)

registerStartCommand(program)
registerKafkaCommands(program)
registerClusterCommands(program)
registerDevCommand(program)
registerUsersCommands(program)
registerBannedCommands(program)
registerApiKeysCommands(program)
registerClientsCommands(program)

await program.parseAsync(process.argv)
