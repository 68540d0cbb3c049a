/**
 * `wharf users ...` and `wharf banned ...` until they are registered in src/cli/main.ts: the same
 * command modules on a program of their own (`node --import tsx test/support/auth-cli.ts users list`).
 */
import { Command } from 'commander'
import { registerBannedCommands } from '../../src/cli/banned-command.js'
import { registerUsersCommands } from '../../src/cli/users-command.js'

const program = new Command().name('wharf')
registerUsersCommands(program)
registerBannedCommands(program)
await program.parseAsync(process.argv)
