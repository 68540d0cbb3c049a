/*
 * Sizes of MQTT's fixed header (MQTT 3.1.1 and 5, 2.2): one byte of type and flags, then the
 * remaining length as a variable byte integer of 1 to 4 bytes. Pure arithmetic, one place for it.
 */

/** Bytes of the variable byte integer `n` (the remaining length, below 268,435,456). */
export function remainingLengthBytes (n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4
}

/** The size of a fixed header whose remaining length is `length`. */
export function fixedHeaderBytes (length: number): number {
  return 1 + remainingLengthBytes(length)
}

/** Bytes of a whole MQTT packet whose remaining length is `length`: fixed header + body. */
export function packetBytes (length: number): number {
  return fixedHeaderBytes(length) + length
}
