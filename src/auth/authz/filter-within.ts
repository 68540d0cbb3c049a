/**
 * Whether every topic that `filter` matches is also matched by `ruleFilter` (MQTT 3.1.1 matching,
 * `$` topics included): the subscribe check of the ACL. Subscribing `a/+` is within a rule `a/#`;
 * `a/#` is not within a rule `a/b`, nor `#` within anything but `#`. A filter whose first level is
 * a wildcard never matches `$` topics, and one starting with `$` is only within a rule that starts
 * with the same literal level.
 */
export function filterWithin (filter: string, ruleFilter: string): boolean {
  if (filter === ruleFilter) return true
  const f = filter.split('/')
  const r = ruleFilter.split('/')
  // a `$...` first level is only matched by the same literal level (wildcards skip `$` topics)
  if ((f[0] as string).startsWith('$') && r[0] !== f[0]) return false
  for (let i = 0; i < f.length; i++) {
    const rl = r[i]
    const fl = f[i] as string
    if (rl === '#') return true
    if (rl === undefined) return false
    if (fl === '#') return false
    if (fl === '+') {
      if (rl !== '+') return false
      continue
    }
    if (rl !== '+' && rl !== fl) return false
  }
  // the filter ended: the rule must end here too, or go on with only a last `#` (`a/#` contains `a`)
  return r.length === f.length || (r.length === f.length + 1 && r[f.length] === '#')
}
