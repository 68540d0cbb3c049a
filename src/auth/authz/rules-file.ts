import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml'
import type { AclRule } from './acl-rule.js'
import { parseRule } from './rule-spec.js'

/** A rules file that cannot be used: names the file and the line. */
export class AclFileError extends Error {
  override readonly name = 'AclFileError'
  constructor (readonly file: string, readonly line: number, problem: string) {
    super(`${file}:${line}: ${problem}`)
  }
}

/**
 * The rules of an `authorization.file` (YAML): a list of rules, first match wins, or a mapping
 * whose `rules` key holds that list. See rule-spec.ts for one rule's shape. Throws an
 * AclFileError naming the file and line of the first problem.
 */
export function parseRulesFile (text: string, file: string): AclRule[] {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false })
  const yamlError = doc.errors[0]
  if (yamlError !== undefined) throw new AclFileError(file, yamlError.linePos?.[0].line ?? 1, yamlError.message.split('\n')[0] as string)
  const lineOf = (node: Node | null | undefined): number => node?.range == null ? 1 : lines.linePos(node.range[0]).line
  let seq: Node | null | undefined = doc.contents
  if (seq === null || (isMap(seq) && !seq.has('rules'))) return []
  if (isMap(seq)) {
    if (seq.items.length !== 1) throw new AclFileError(file, lineOf(seq), 'expected a list of rules, or a mapping with only the key rules')
    seq = seq.get('rules', true) as Node | null | undefined
    if (seq === null || seq === undefined) return []
  }
  if (!isSeq(seq)) throw new AclFileError(file, lineOf(seq), 'expected a list of rules')
  return seq.items.map((item) => {
    const line = lineOf(item as Node)
    try {
      return parseRule((item as Node).toJSON(), `${file}:${line}`)
    } catch (err) {
      throw new AclFileError(file, line, (err as Error).message)
    }
  })
}
