import { describe, expect, it } from 'vitest';
import { parseArray, parseInt8, parseTimestamp, toVectorLiteral, TypeRegistry } from './type-parsers.ts';

describe('parseTimestamp', () => {
  it.each([
    ['2024-02-29 23:59:58.123456+02', '2024-02-29T21:59:58.123Z'],
    ['2024-01-02 03:04:05', '2024-01-02T03:04:05.000Z'],
    ['2024-01-02 03:04:05.5-05:30', '2024-01-02T08:34:05.500Z'],
    ['1900-01-01 00:00:00+00:09:21', '1899-12-31T23:50:39.000Z'],
    ['0099-06-01 00:00:00+00', '0099-06-01T00:00:00.000Z'],
  ])('reads %s as %s', (text, iso) => {
    expect(parseTimestamp(text).toISOString()).toBe(iso);
  });

  it('reads BC years and infinities', () => {
    expect(parseTimestamp('0001-01-01 00:00:00+00 BC').getUTCFullYear()).toBe(0);
    expect(parseTimestamp('infinity').getTime()).toBe(8.64e15);
    expect(parseTimestamp('-infinity').getTime()).toBe(-8.64e15);
  });
});

describe('parseInt8', () => {
  it('returns numbers while exact and bigint beyond 2^53', () => {
    expect(parseInt8('-9007199254740991')).toBe(-9007199254740991);
    expect(parseInt8('9007199254740992')).toBe(9007199254740992n);
  });
});

describe('parseArray', () => {
  it('handles quoting, escapes, NULL, nesting, bounds and custom delimiters', () => {
    expect(parseArray('{a,"b,c","d\\\\e","NULL",NULL}', (v) => v)).toEqual(['a', 'b,c', 'd\\e', 'NULL', null]);
    expect(parseArray('{{1,2},{3,4}}', Number)).toEqual([[1, 2], [3, 4]]);
    expect(parseArray('[0:1]={7,8}', Number)).toEqual([7, 8]);
    expect(parseArray('{(1,1),(0,0);(2,2),(1,1)}', (v) => v, ';')).toEqual(['(1,1),(0,0)', '(2,2),(1,1)']);
    expect(parseArray('{}', Number)).toEqual([]);
  });
});

describe('TypeRegistry', () => {
  it('parses extension types and their arrays once loaded from the catalog', () => {
    const types = new TypeRegistry();
    expect(types.parse(90001, '[1,2]')).toBe('[1,2]');
    types.load([
      { oid: 90001, typname: 'vector', typelem: 0, typdelim: ',', is_array: false },
      { oid: 90002, typname: '_vector', typelem: 90001, typdelim: ',', is_array: true },
    ]);
    expect(types.parse(90001, '[1,2]')).toEqual([1, 2]);
    expect(types.parse(90002, '{"[1,2]","[3,4]"}')).toEqual([[1, 2], [3, 4]]);
  });
});

describe('toVectorLiteral', () => {
  it('formats numbers and rejects non-finite ones', () => {
    expect(toVectorLiteral(new Float32Array([0.5, -2]))).toBe('[0.5,-2]');
    expect(() => toVectorLiteral([1, Number.NaN])).toThrow(TypeError);
  });
});
