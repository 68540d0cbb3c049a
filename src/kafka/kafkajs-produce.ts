import { kafkajsProduceInternals, type ProduceDefinition } from './kafkajs-internals.js'
import { encodeProduceRequest, type ProduceEncoderDeps, type ProduceRequestArgs } from './produce-request-encoder.js'

const PATCHED = Symbol.for('wharf.kafkajs-produce-patched')
const FIRST_VERSION = 3
const LAST_VERSION = 7

/**
 * Has kafkajs 2.2.4 encode Produce requests (v3..v7) with Wharf's one-pass encoder
 * (produce-request-encoder.ts: the same bytes, one Buffer instead of an Encoder per record and per
 * header). Only `encode()` of each request changes: kafkajs still groups the messages, assigns
 * partitions, sequence numbers, producer id and epoch (sendMessages, eosManager), sends, retries and
 * reads the response. Requests the encoder does not write (compression, message timestamps) are
 * encoded by kafkajs as before. Returns false, changing nothing, when kafkajs is not the version (or
 * shape) this was written for; patching twice is harmless.
 */
export function patchKafkajsProduce (): boolean {
  let internals
  try {
    internals = kafkajsProduceInternals()
  } catch {
    return false
  }
  const produce = internals.produce as ProduceDefinition & { [PATCHED]?: true }
  if (produce[PATCHED] === true) return true
  const deps: ProduceEncoderDeps = { int64Bits: internals.int64Bits }
  const { encoderOf } = internals
  const original = produce.protocol
  produce.protocol = ({ version }) => {
    const make = original({ version })
    if (version < FIRST_VERSION || version > LAST_VERSION) return make
    return (args) => {
      const made = make(args)
      const kafkajsEncode = made.request.encode
      made.request.encode = async () => {
        const bytes = encodeProduceRequest(args as ProduceRequestArgs, deps)
        return bytes === undefined ? await kafkajsEncode() : encoderOf(bytes)
      }
      return made
    }
  }
  Object.defineProperty(produce, PATCHED, { value: true })
  return true
}
