import { createRequire } from 'node:module'
import { dirname } from 'node:path'

/*
 * What every connection's MQTT parser holds between packets (issue 18: bytes per idle connection).
 * mqtt-packet's Parser keeps the bytes not yet parsed in `bl()`, which is bl's BufferListStream: a
 * whole Duplex stream (a readable and a writable state, their buffers and bound callbacks, ~1 KiB
 * of heap) of which the parser uses only the list: append, length, readUInt*, slice, consume,
 * toString. bl's plain BufferList (the same package, the class BufferListStream extends) has all of
 * them with the same behaviour. The Parser's `_resetState` (run when a parser is made and after a
 * parse error) gets the plain list instead. Every parser of the mqtt-packet module aedes shares
 * with Wharf is affected, aedes' included; the shape is checked before anything is changed.
 */

const require = createRequire(import.meta.url)

interface ListLike { length: number, append: (b: Buffer) => unknown }
interface ParserPrototype { _resetState: (this: { _list: ListLike }) => void, wharfLeanList?: true }

const LIST_METHODS = ['append', 'consume', 'slice', 'toString', 'readUInt8', 'readUInt16BE', 'readUInt32BE'] as const

/**
 * Makes every mqtt-packet parser keep its pending bytes in a plain BufferList. Idempotent; false
 * (nothing changed) when mqtt-packet or bl are not shaped as expected.
 */
export function leanParserBuffers (): boolean {
  const mqttPacketDir = dirname(require.resolve('mqtt-packet'))
  const parserModule = require(`${mqttPacketDir}/parser.js`) as { prototype?: ParserPrototype }
  const proto = parserModule.prototype
  if (proto === undefined || typeof proto._resetState !== 'function') return false
  if (proto.wharfLeanList === true) return true
  // the BufferList of the bl mqtt-packet itself loads
  const blDir = dirname(require.resolve('bl', { paths: [mqttPacketDir] }))
  const BufferList = require(`${blDir}/BufferList.js`) as new () => ListLike & Record<string, unknown>
  const probe = new BufferList()
  if (typeof probe.length !== 'number' || LIST_METHODS.some(m => typeof probe[m] !== 'function')) return false
  const reset = proto._resetState
  proto._resetState = function _resetState (this: { _list: ListLike }) {
    reset.call(this)
    if (this._list.length === 0) this._list = new BufferList()
  }
  proto.wharfLeanList = true
  return true
}
