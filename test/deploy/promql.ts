/**
 * Just enough PromQL reading to list the metric names an expression selects, so alert rules and
 * dashboards can be checked against the names the services really export.
 */

/**
 * Words PromQL uses that are neither functions (always followed by `(`) nor metric names; the
 * vector-matching modifiers may appear without a label list.
 */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2', 'group_left', 'group_right', 'on', 'ignoring']);

/**
 * Metric names referenced by a PromQL expression (Grafana `$variables` allowed), in order of
 * first appearance. Label names inside `{}` and `by (...)`-style clauses, function names,
 * keywords, durations and string literals are not metric names and are left out.
 */
export function metricNamesInPromQL(expr: string): string[] {
  const stripped = expr
    // String literals: label values and regexes.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // Label matchers, range and subquery selectors.
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    // Grouping and vector-matching clauses list label names.
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    // Grafana variables: $__rate_interval, ${var}, $var.
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()/g)) {
    const name = match[1]!;
    if (KEYWORDS.has(name.toLowerCase()) || names.includes(name)) continue;
    names.push(name);
  }
  return names;
}

/** A Prometheus metric type, as in the `# TYPE` line of an exposition. */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

/**
 * Whether `name` is a series of an allowed metric: the metric itself, or the `_bucket`, `_sum`
 * or `_count` series of an allowed histogram (`_sum` and `_count` of a summary).
 */
export function isAllowedSeries(name: string, allowlist: ReadonlyMap<string, MetricType>): boolean {
  if (allowlist.has(name)) return true;
  const match = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!match) return false;
  const type = allowlist.get(match[1]!);
  return type === 'histogram' || (type === 'summary' && match[2] !== 'bucket');
}

/** One `label op "value"` matcher inside a selector's braces. */
export interface LabelMatcher {
  metric: string;
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** The label matchers of every `metric{...}` selector in a PromQL expression. */
export function labelMatchersInPromQL(expr: string): LabelMatcher[] {
  const matchers: LabelMatcher[] = [];
  for (const selector of expr.matchAll(/(?<![\w:])([A-Za-z_:][\w:]*)\s*\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}/g)) {
    for (const m of selector[2]!.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      matchers.push({ metric: selector[1]!, label: m[1]!, op: m[2] as LabelMatcher['op'], value: m[3]! });
    }
  }
  return matchers;
}

/**
 * The label values a matcher names: the value of `=`/`!=`, the alternatives of a `=~`/`!~` that
 * is a plain `a|b|c` list. Empty for anything else (a real regex or a Grafana `$variable`), which
 * cannot be checked against a closed set.
 */
export function namedLabelValues(matcher: LabelMatcher): string[] {
  if (matcher.value.includes('$')) return [];
  if (matcher.op === '=' || matcher.op === '!=') return [matcher.value];
  return /^\w+(?:\|\w+)*$/.test(matcher.value) ? matcher.value.split('|') : [];
}
