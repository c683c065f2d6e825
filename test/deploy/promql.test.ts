import { describe, expect, it } from 'vitest';
import { isAllowedSeries, labelMatchersInPromQL, metricNamesInPromQL, namedLabelValues, type MetricType } from './promql.ts';

describe('metricNamesInPromQL', () => {
  it('finds the metrics and leaves out functions, labels, keywords, strings and variables', () => {
    const expr = `
      sum by (platform, le) (rate(switchboard_replies_total{outcome="error", job=~"web|agent"}[5m]))
        / ignoring(outcome) group_left sum(rate(switchboard_replies_total[$__rate_interval] offset 1h)) > 0.05
      and on() max(switchboard_lane_queue_depth{state="waiting"}) > bool 0
      or histogram_quantile(0.95, sum by (le) (rate(llm_request_duration_seconds_bucket[10m])))
      unless up == 0 or vector(1) > 1e-9`;
    expect(metricNamesInPromQL(expr)).toEqual([
      'switchboard_replies_total',
      'switchboard_lane_queue_depth',
      'llm_request_duration_seconds_bucket',
      'up',
    ]);
  });

  it('reads a bare selector and a recording-rule style name', () => {
    expect(metricNamesInPromQL('process_resident_memory_bytes')).toEqual(['process_resident_memory_bytes']);
    expect(metricNamesInPromQL('job:http_requests:rate5m > 1')).toEqual(['job:http_requests:rate5m']);
  });
});

describe('isAllowedSeries', () => {
  const allowlist = new Map<string, MetricType>([
    ['switchboard_turn_duration_seconds', 'histogram'],
    ['switchboard_turns_total', 'counter'],
  ]);

  it('allows listed metrics and the bucket, sum and count series of listed histograms only', () => {
    expect(isAllowedSeries('switchboard_turns_total', allowlist)).toBe(true);
    expect(isAllowedSeries('switchboard_turn_duration_seconds_bucket', allowlist)).toBe(true);
    expect(isAllowedSeries('switchboard_turn_duration_seconds_count', allowlist)).toBe(true);
    expect(isAllowedSeries('switchboard_turns_total_count', allowlist)).toBe(false);
    expect(isAllowedSeries('switchboard_turn_seconds', allowlist)).toBe(false);
  });
});

describe('labelMatchersInPromQL', () => {
  it('lists the matchers of every selector, with the values a closed set can be checked against', () => {
    const expr = `sum by (tool) (rate(switchboard_tool_runs_total{outcome=~"timeout|rejected", tool=~"$tool"}[5m]))
      / ignoring(outcome) sum(rate(llm_requests_total{model!="a}b", outcome != "aborted"}[$__rate_interval])) and up{job=~"web.*"}`;
    const matchers = labelMatchersInPromQL(expr);
    expect(matchers).toEqual([
      { metric: 'switchboard_tool_runs_total', label: 'outcome', op: '=~', value: 'timeout|rejected' },
      { metric: 'switchboard_tool_runs_total', label: 'tool', op: '=~', value: '$tool' },
      { metric: 'llm_requests_total', label: 'model', op: '!=', value: 'a}b' },
      { metric: 'llm_requests_total', label: 'outcome', op: '!=', value: 'aborted' },
      { metric: 'up', label: 'job', op: '=~', value: 'web.*' },
    ]);
    expect(matchers.map(namedLabelValues)).toEqual([['timeout', 'rejected'], [], ['a}b'], ['aborted'], []]);
  });
});
