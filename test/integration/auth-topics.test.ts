import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { Kafka } from 'kafkajs'
import { AuthChain } from '../../src/auth/authn/auth-chain.js'
import { BuiltInUsers } from '../../src/auth/authn/built-in-users.js'
import { BannedView } from '../../src/auth/bans/banned-view.js'
import { UserView } from '../../src/auth/users/user-view.js'
import { createKafka } from '../../src/kafka/client.js'
import { LogTail } from '../../src/kafka/log-tail.js'
import { PartitionFetcher } from '../../src/kafka/partition-fetcher.js'
import { readToEnd } from '../../src/kafka/log-snapshot.js'
import { createLogger } from '../../src/observability/logger.js'
import { until } from '../support/mqtt-client.js'
import { wharf as runWharf } from '../support/wharf-cli.js'
import { testBrokers, topicsEnv, uniqueTopics } from '../support/wharf-process.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/mosquitto.passwd', import.meta.url))

describe('the users and banned topics, written by the CLI, read by a node\'s views', () => {
  const logger = createLogger({ level: 'warn' })
  const id = randomUUID().slice(0, 8)
  const alice = `alice-${id}`
  const topics = uniqueTopics('authtopics')
  /** `wharf <args>` (the built CLI) on this test's topics, `input` on stdin */
  const wharf = (args: string[], input?: string): Promise<string> =>
    runWharf(args, { env: { WHARF_KAFKA__BROKERS: testBrokers().join(','), ...topicsEnv(topics) }, input })
  let kafka: Kafka
  const users = new UserView()
  const banned = new BannedView()
  let tails: LogTail[] = []
  let fetcher: PartitionFetcher
  let chain: AuthChain
  const login = (username: string, password: string) =>
    chain.check({ clientId: `c-${id}`, username, password: Buffer.from(password), peerhost: '127.0.0.1', listener: 'default' })

  before(async () => {
    kafka = createKafka({ brokers: testBrokers(), client_id: 'auth-test', connection_timeout_ms: 3000, request_timeout_ms: 30000, tls: { enabled: false, reject_unauthorized: true } }, logger)
    // the first command creates the topics (compacted), as a node would
    await wharf(['users', 'list'])
    await wharf(['banned', 'list'])
    fetcher = new PartitionFetcher(kafka, { purpose: 'views' }, logger)
    await fetcher.start()
    tails = [
      new LogTail(fetcher, { topics: [topics.users], from: 'earliest', onBatch: users.onBatch }),
      new LogTail(fetcher, { topics: [topics.banned], from: 'earliest', onBatch: banned.onBatch })
    ]
    await Promise.all(tails.map(t => t.start()))
    await Promise.all(tails.map(t => t.caughtUp()))
    chain = new AuthChain({ sources: [new BuiltInUsers(users, undefined, logger)], allow_anonymous: false, banned }, logger)
  })
  after(async () => {
    await Promise.all(tails.map(t => t.stop()))
    await fetcher.stop()
  })

  it('a user added by the CLI logs in on a running view; the topic holds no password', async () => {
    const password = `pw-${randomUUID()}`
    assert.match(await wharf(['users', 'add', alice, '--password-stdin'], `${password}\n`), new RegExp(`added user ${alice}`))
    const added = Date.now()
    await until(() => users.get(alice) !== undefined, 10000, 'the user in the view')
    console.log(`# user visible in a tailing view ${Date.now() - added} ms after the CLI exited`)
    assert.equal((await login(alice, password)).outcome, 'allow')
    assert.deepEqual(await login(alice, 'wrong'), { outcome: 'deny', reason: 'bad_credentials', source: 'built_in_database' })
    let raw = ''
    await readToEnd(kafka, topics.users, m => { raw += `${m.key?.toString() ?? ''} ${m.value?.toString() ?? ''}\n` }, logger)
    assert.match(raw, new RegExp(alice))
    assert.doesNotMatch(raw, new RegExp(password))
    assert.ok(!raw.includes(Buffer.from(password).toString('base64')))
    const list = await wharf(['users', 'list'])
    assert.match(list, new RegExp(`${alice}\\s+no\\s+pbkdf2-sha256`))
  })

  it('imported Mosquitto users log in with their passwords; passwd and delete take effect', async () => {
    assert.match(await wharf(['users', 'import', '--mosquitto-passwd', FIXTURE]), /imported 3 users/)
    await until(() => users.get('carol') !== undefined && users.get('alice') !== undefined, 10000, 'the imported users in the view')
    assert.equal((await login('alice', 'alice pw 1')).outcome, 'allow')
    assert.equal((await login('carol', 'carol-ä')).outcome, 'allow')
    const before = users.get(alice)?.updatedAt
    await wharf(['users', 'passwd', alice, '--password', 'second'])
    await until(() => users.get(alice)?.updatedAt !== before, 10000, 'the new password in the view')
    assert.equal((await login(alice, 'second')).outcome, 'allow')
    await wharf(['users', 'delete', alice])
    await until(() => users.get(alice) === undefined, 10000, 'the user gone from the view')
    assert.deepEqual(await login(alice, 'second'), { outcome: 'deny', reason: 'bad_credentials' })
  })

  it('a ban by the CLI refuses the client; lifting it lets it in again', async () => {
    await wharf(['users', 'add', `bob-${id}`, '--password', 'bobpw'])
    await until(() => users.get(`bob-${id}`) !== undefined, 10000, 'bob in the view')
    await wharf(['banned', 'add', 'username', `bob-${id}`, '--duration', '1h', '--reason', 'test'])
    await until(() => banned.isBanned({ clientId: 'x', username: `bob-${id}`, peerhost: '127.0.0.1' }), 10000, 'the ban in the view')
    assert.deepEqual(await login(`bob-${id}`, 'bobpw'), { outcome: 'deny', reason: 'banned' })
    assert.match(await wharf(['banned', 'list']), new RegExp(`username\\s+bob-${id}`))
    await wharf(['banned', 'delete', 'username', `bob-${id}`])
    await until(() => !banned.isBanned({ clientId: 'x', username: `bob-${id}`, peerhost: '127.0.0.1' }), 10000, 'the ban lifted in the view')
    assert.equal((await login(`bob-${id}`, 'bobpw')).outcome, 'allow')
    await wharf(['users', 'delete', `bob-${id}`])
  })
})
