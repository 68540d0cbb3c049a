import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { markdownTable, negotiateWith } from '../support/kafka-api-versions.js'
import { testBrokers } from '../support/wharf-process.js'

// kafkajs sends min(its newest version, the broker's newest) of each request and never checks the
// broker's oldest: on a Kafka that dropped old versions (4.0, KIP-896) a request kafkajs only knows
// in a removed version would fail at run time. This asks the test run's Kafka itself.
describe('kafkajs against the Kafka the tests run on', () => {
  test('every request Wharf sends is in a version every broker accepts', async (t) => {
    for (const broker of testBrokers()) {
      const rows = await negotiateWith(broker)
      t.diagnostic(`${broker}\n${markdownTable(rows, 'broker')}`)
      assert.equal(rows.length, 18)
      assert.deepEqual(rows.filter((r) => !r.ok).map((r) => r.name), [], `requests ${broker} would refuse`)
    }
  })
})
