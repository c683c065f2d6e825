/**
 * One table of text-format parsers used by both backends, so the same SQL returns the same JS
 * values from node-postgres and from PGlite:
 *
 * | Postgres type                         | JS value                                             |
 * | ------------------------------------- | ---------------------------------------------------- |
 * | int2, int4, oid, float4, float8       | number                                               |
 * | int8 (bigint, bigserial, count(*))    | number; bigint when outside ±(2^53−1) (never lossy)  |
 * | numeric                               | string (exact)                                       |
 * | bool                                  | boolean                                              |
 * | json, jsonb                           | parsed JSON                                          |
 * | timestamptz                           | Date                                                 |
 * | timestamp (without time zone)         | Date, read as UTC                                    |
 * | date, time, timetz, interval          | string as Postgres prints it (`2024-01-31`, …)       |
 * | bytea                                 | Buffer (a Uint8Array)                                |
 * | vector (pgvector)                     | number[]                                             |
 * | any array (text[], int8[], …)         | JS array (nested for multi-dimensional) of the above |
 * | anything else (text, uuid, …)         | string                                               |
 *
 * ±infinity timestamps map to the largest/smallest Date (±8.64e15 ms).
 */

/** Parses one non-null value in Postgres text format. */
export type TextParser = (value: string) => unknown;

const MAX_DATE_MS = 8.64e15;

/** int8 → number when it is a safe integer, else bigint. */
export function parseInt8(value: string): number | bigint {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : BigInt(value);
}

const TIMESTAMP_RE =
  /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( BC)?$/;

/**
 * Parses Postgres' ISO timestamp output. Without an offset the value is read as UTC (used for
 * `timestamp without time zone`). Microseconds are truncated to milliseconds.
 */
export function parseTimestamp(value: string): Date {
  if (value === 'infinity') return new Date(MAX_DATE_MS);
  if (value === '-infinity') return new Date(-MAX_DATE_MS);
  const m = TIMESTAMP_RE.exec(value);
  if (!m) return new Date(Number.NaN);
  let year = Number(m[1]);
  if (m[12]) year = 1 - year; // 1 BC is year 0 in the proleptic calendar JS uses
  const ms = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  const date = new Date(0);
  date.setUTCFullYear(year, Number(m[2]) - 1, Number(m[3]));
  date.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), ms);
  if (m[8]) {
    const offsetSeconds = Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0);
    const sign = m[8] === '-' ? -1 : 1;
    date.setTime(date.getTime() - sign * offsetSeconds * 1000);
  }
  return date;
}

/** bytea in hex output format (`\x0102`) → Buffer. */
export function parseBytea(value: string): Buffer {
  return Buffer.from(value.startsWith('\\x') ? value.slice(2) : value, 'hex');
}

/** pgvector text (`[1,2.5,3]`) → number[]. */
export function parseVector(value: string): number[] {
  return JSON.parse(value) as number[];
}

/**
 * Formats numbers as a pgvector literal (`[1,2,3]`), the one vector parameter form both backends
 * accept. Throws a TypeError for non-finite numbers, which pgvector rejects anyway.
 */
export function toVectorLiteral(values: ArrayLike<number>): string {
  const parts: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) throw new TypeError(`vector element ${i} is not a finite number`);
    parts.push(String(v));
  }
  return `[${parts.join(',')}]`;
}

/**
 * Parses a Postgres array literal (`{a,"b c",NULL,{1,2}}`) into nested JS arrays, applying
 * `element` to every non-null element.
 */
export function parseArray(value: string, element: TextParser, delimiter = ','): unknown {
  let i = 0;
  // Arrays with explicit bounds print a `[1:2]=` prefix.
  if (value[0] === '[') i = value.indexOf('=') + 1;
  const parseLevel = (): unknown[] => {
    const out: unknown[] = [];
    i++; // skip '{'
    while (i < value.length) {
      const ch = value[i];
      if (ch === '}') {
        i++;
        return out;
      }
      if (ch === delimiter) {
        i++;
        continue;
      }
      if (ch === '{') {
        out.push(parseLevel());
        continue;
      }
      if (ch === '"') {
        let s = '';
        i++;
        while (i < value.length && value[i] !== '"') {
          if (value[i] === '\\') i++;
          s += value[i];
          i++;
        }
        i++; // closing quote
        out.push(element(s));
        continue;
      }
      let end = i;
      while (end < value.length && value[end] !== delimiter && value[end] !== '}') end++;
      const raw = value.slice(i, end);
      out.push(raw === 'NULL' ? null : element(raw));
      i = end;
    }
    return out;
  };
  return parseLevel();
}

const identity: TextParser = (v) => v;
const toNumber: TextParser = (v) => Number(v);

/** Scalar parsers by builtin type oid (stable across Postgres versions). */
const SCALAR_PARSERS: ReadonlyMap<number, TextParser> = new Map<number, TextParser>([
  [16, (v) => v === 't'], // bool
  [17, parseBytea], // bytea
  [20, parseInt8], // int8
  [21, toNumber], // int2
  [23, toNumber], // int4
  [26, toNumber], // oid
  [700, toNumber], // float4
  [701, toNumber], // float8
  [114, (v) => JSON.parse(v)], // json
  [3802, (v) => JSON.parse(v)], // jsonb
  [1114, parseTimestamp], // timestamp
  [1184, parseTimestamp], // timestamptz
  // Kept as text on purpose: the two drivers disagree on these and text is lossless.
  [1082, identity], // date
  [1083, identity], // time
  [1266, identity], // timetz
  [1186, identity], // interval
  [1700, identity], // numeric
  [600, identity], // point
  [718, identity], // circle
  [25, identity], // text
]);

/** Builtin array oid → element oid, so arrays parse before the catalog has been read. */
const BUILTIN_ARRAYS: ReadonlyMap<number, number> = new Map([
  [1000, 16], [1001, 17], [1016, 20], [1005, 21], [1007, 23], [1028, 26], [1021, 700],
  [1022, 701], [199, 114], [3807, 3802], [1115, 1114], [1185, 1184], [1182, 1082], [1183, 1083],
  [1270, 1266], [1187, 1186], [1231, 1700], [1009, 25], [1015, 1043], [1014, 1042], [2951, 2950],
]);

/** A catalog row as read by {@link TYPE_CATALOG_SQL}. */
export interface TypeCatalogRow {
  oid: number;
  typname: string;
  typelem: number;
  typdelim: string;
  is_array: boolean;
}

/** Reads the array types and extension types (pgvector) that need parsers. */
export const TYPE_CATALOG_SQL = `select oid::int4 as oid, typname::text as typname, typelem::int4 as typelem,
  typdelim::text as typdelim, (typcategory = 'A') as is_array
  from pg_catalog.pg_type where typcategory = 'A' or typname = 'vector'`;

/**
 * The parser table of one database. Extension types (vector) and arrays of them get oids that
 * differ between databases, so {@link TypeRegistry.load} reads them from the catalog after
 * migrations.
 */
export class TypeRegistry {
  readonly #parsers = new Map<number, TextParser>(SCALAR_PARSERS);

  constructor() {
    for (const [arrayOid, elemOid] of BUILTIN_ARRAYS) this.#addArray(arrayOid, elemOid, ',');
  }

  /** Adds parsers for the catalog rows returned by {@link TYPE_CATALOG_SQL}. */
  load(rows: readonly TypeCatalogRow[]): void {
    for (const row of rows) if (!row.is_array && row.typname === 'vector') this.#parsers.set(row.oid, parseVector);
    for (const row of rows) {
      if (row.is_array && !BUILTIN_ARRAYS.has(row.oid)) this.#addArray(row.oid, row.typelem, row.typdelim || ',');
    }
  }

  /** The parser for `oid`, or undefined when the value stays a string. */
  parser(oid: number): TextParser | undefined {
    return this.#parsers.get(oid);
  }

  /** Every oid with a parser (for backends that take a parser table up front). */
  oids(): number[] {
    return [...this.#parsers.keys()];
  }

  /** Parses a text-format value of type `oid`. */
  parse(oid: number, value: string): unknown {
    const parser = this.#parsers.get(oid);
    return parser ? parser(value) : value;
  }

  #addArray(arrayOid: number, elemOid: number, delimiter: string): void {
    this.#parsers.set(arrayOid, (v) => parseArray(v, (e) => this.parse(elemOid, e), delimiter));
  }
}
