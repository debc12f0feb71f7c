import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  AuthenticationError,
  PermissionDeniedError,
  TlsError,
  ConflictError,
  CorruptionError,
  DatabaseFailedError,
  LimitExceededError,
  LeaseExpiredError,
  UniqueViolationError,
  WatchOverflowError,
  IndexMissingError,
  IoError,
  LockedError,
  UnsupportedFormatError,
  DatabaseClosedError,
  CollectionMismatchError,
  ERROR_CODES,
  ReadOnlyError,
  ReplicationError,
  EpochError,
  ISOLATION_LEVELS,
  InvalidKeyError,
  InvalidOptionError,
  InvalidValueError,
  MAX_TAG_LENGTH,
  SnapshotReleasedError,
  TransactionFinishedError,
  VersionMismatchError,
  VersionUnavailableError,
  assertKey,
  batchOpSchema,
  batchSchema,
  deleteOptionsSchema,
  ifVersionSchema,
  maintenanceOptionsSchema,
  openOptionsSchema,
  parseArgument,
  putOptionsSchema,
  scanOptionsSchema,
  tagSchema,
  transactionOptionsSchema,
  type ErrorCode,
} from '@epochdb/core';

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Runs `fn`, expecting an error of `Class`; returns it. */
function caught<E extends Error>(fn: () => unknown, Class: abstract new (...args: never[]) => E): E {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(Class);
  expect(error).toBeInstanceOf(EpochError);
  return error as E;
}

function keyError(key: unknown, maxKeyBytes = 1024, what = 'put(): key'): InvalidKeyError {
  const error = caught(() => assertKey(key, what, maxKeyBytes), InvalidKeyError);
  expect(error.code).toBe('INVALID_KEY');
  expect(error.message.startsWith(`${what} `)).toBe(true);
  return error;
}

function optionError(schema: Parameters<typeof parseArgument>[0], input: unknown, what = 'put(): options'): InvalidOptionError {
  const error = caught(() => parseArgument(schema, input, what), InvalidOptionError);
  expect(error.code).toBe('INVALID_OPTION');
  expect(error.message.startsWith(what)).toBe(true);
  // The zod error is kept as the cause, with the issues that were reported.
  expect(error.cause).toBeInstanceOf(Error);
  expect((error.cause as { issues?: unknown[] }).issues?.length).toBeGreaterThan(0);
  return error;
}

// ---------------------------------------------------------------- keys

describe('assertKey', () => {
  test.each([
    ['a number', 1, 'number'],
    ['NaN', NaN, 'number'],
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['an object', { key: 'a' }, 'object'],
    ['an array', ['a'], 'object'],
    ['a boxed string', Object('a') as unknown, 'object'],
    ['a symbol', Symbol('a'), 'symbol'],
    ['a boolean', true, 'boolean'],
    ['a bigint', 1n, 'bigint'],
    ['a function', () => 'a', 'function'],
  ])('rejects %s, naming its type', (_label, key, type) => {
    expect(keyError(key).message).toBe(`put(): key must be a string, got ${type}`);
  });

  test('rejects the empty string', () => {
    expect(keyError('').message).toBe('put(): key must not be empty');
  });

  test.each([
    ['a lone high surrogate', '\uD800'],
    ['a lone low surrogate', '\uDC00'],
    ['a high surrogate at the end', 'abc\uD83D'],
    ['a low surrogate first', '\uDE00abc'],
    ['reversed pair', '\uDE00\uD83D'],
  ])('rejects %s', (_label, key) => {
    expect(keyError(key).message).toContain('lone surrogate');
  });

  test('accepts well-formed keys: astral pairs, U+0000, U+FFFF, whitespace', () => {
    for (const key of ['a', '😀', 'a\uD83D\uDE00b', '\u0000', 'a\u0000b', '\uFFFF', ' ', '\n']) {
      expect(() => assertKey(key, 'put(): key', 1024)).not.toThrow();
    }
  });

  test('the default limit of 1024 UTF-8 bytes: exactly at the limit accepted, one byte over rejected', () => {
    expect(() => assertKey('a'.repeat(1024), 'k', 1024)).not.toThrow();
    expect(keyError('a'.repeat(1025), 1024, 'k').message).toBe('k is 1025 bytes (UTF-8), over the limit of 1024 bytes (maxKeyBytes)');
    // 341 × 3-byte "€" = 1023 bytes: one ASCII byte fits, two do not.
    expect(() => assertKey('€'.repeat(341) + 'a', 'k', 1024)).not.toThrow();
    expect(keyError('€'.repeat(341) + 'ab', 1024, 'k').message).toContain('is 1025 bytes');
    expect(keyError('€'.repeat(342), 1024, 'k').message).toContain('is 1026 bytes');
    // 256 × 4-byte "😀" (512 UTF-16 units) = exactly 1024 bytes.
    expect(() => assertKey('😀'.repeat(256), 'k', 1024)).not.toThrow();
    expect(keyError('😀'.repeat(256) + 'a', 1024, 'k').message).toContain('is 1025 bytes');
    // 512 × 2-byte "é" = 1024 bytes.
    expect(() => assertKey('é'.repeat(512), 'k', 1024)).not.toThrow();
    expect(keyError('é'.repeat(512) + 'a', 1024, 'k').message).toContain('is 1025 bytes');
  });

  test.each([
    ['2-byte characters', 'é', 2],
    ['3-byte characters', '€', 3],
    ['4-byte characters (surrogate pairs)', '😀', 4],
    ['3-byte U+FFFF', '\uFFFF', 3],
  ])('multi-byte keys near a small limit: %s', (_label, char, width) => {
    for (const max of [width, width * 3, width * 3 + 1, width * 3 + 2, 10, 11, 12, 13]) {
      const count = Math.floor(max / width);
      const base = char.repeat(count);
      const fill = 'a'.repeat(max - count * width);
      const atLimit = base + fill;
      expect(utf8(atLimit)).toBe(max);
      expect(() => assertKey(atLimit, 'k', max)).not.toThrow();
      expect(keyError(atLimit + 'a', max, 'k').message).toContain(`is ${max + 1} bytes (UTF-8), over the limit of ${max} bytes`);
      // One more multi-byte character instead of an ASCII byte is over too.
      expect(keyError(char + atLimit, max, 'k').message).toContain(`is ${max + width} bytes`);
    }
  });

  test('property: a non-empty well-formed string is accepted iff its UTF-8 length is within maxKeyBytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 120 }), (key, max) => {
        const fits = utf8(key) <= max;
        let error: unknown;
        try {
          assertKey(key, 'k', max);
        } catch (e) {
          error = e;
        }
        if (fits) expect(error).toBeUndefined();
        else {
          expect(error).toBeInstanceOf(InvalidKeyError);
          expect((error as Error).message).toBe(`k is ${utf8(key)} bytes (UTF-8), over the limit of ${max} bytes (maxKeyBytes)`);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('the error names the argument it was given', () => {
    expect(keyError(5, 1024, 'batch(): ops[2].key').message).toBe('batch(): ops[2].key must be a string, got number');
    expect(keyError('', 1024, 'snapshot.get(): key').message).toBe('snapshot.get(): key must not be empty');
  });
});

// ---------------------------------------------------------------- parseArgument: general behaviour

describe('parseArgument', () => {
  test('returns the parsed data and leaves the input untouched (defaults go to the output only)', () => {
    const input = {};
    const parsed = parseArgument(openOptionsSchema, input, 'open(): options');
    expect(input).toStrictEqual({});
    expect(parsed).not.toBe(input);
    expect(parsed.maxKeyBytes).toBe(1024);
  });

  test('reports every issue, each prefixed by the argument and field path, joined by "; "', () => {
    const error = optionError(putOptionsSchema, { ttl: -1, run: '', bogus: 1 }, 'put(): options');
    expect(error.message).toContain('put(): options.ttl: must be > 0 (milliseconds)');
    expect(error.message).toContain('put(): options.run: must be a non-empty string');
    expect(error.message).toContain('put(): options: Unrecognized key: "bogus"');
    expect(error.message.split('; ')).toHaveLength(3);
  });

  test('nested paths are joined with dots', () => {
    const error = optionError(openOptionsSchema, { maintenance: { sliceMs: 0 } }, 'open(): options');
    expect(error.message).toContain('open(): options.maintenance.sliceMs:');
    const batch = optionError(batchSchema, [{ op: 'put', key: 'a', value: 1 }, { op: 'put', key: 'b', value: 1, ttl: 0 }], 'batch(): ops');
    expect(batch.message).toContain('batch(): ops.1.ttl: must be > 0');
  });

  test.each([
    ['null', null],
    ['a string', 'ttl=5'],
    ['a number', 5],
    ['an array', [] as unknown],
    ['a function', () => ({})],
  ])('rejects %s where an options object is expected', (_label, input) => {
    for (const [schema, what] of [
      [putOptionsSchema, 'put(): options'],
      [deleteOptionsSchema, 'delete(): options'],
      [scanOptionsSchema, 'scan(): options'],
      [transactionOptionsSchema, 'begin(): options'],
      [openOptionsSchema, 'open(): options'],
      [maintenanceOptionsSchema, 'open(): options.maintenance'],
    ] as const) {
      optionError(schema, input, what);
    }
  });
});

// ---------------------------------------------------------------- every schema

describe('tagSchema (run / type)', () => {
  test('accepts non-empty well-formed tags up to MAX_TAG_LENGTH UTF-16 units', () => {
    expect(MAX_TAG_LENGTH).toBe(256);
    for (const tag of ['a', 'run-1', '😀', 'x'.repeat(MAX_TAG_LENGTH), '😀'.repeat(MAX_TAG_LENGTH / 2), 'é'.repeat(MAX_TAG_LENGTH)]) {
      expect(parseArgument(tagSchema, tag, 'byRun(): run')).toBe(tag);
    }
  });

  test.each([
    ['empty', '', 'must be a non-empty string'],
    ['U+0000 inside', 'a\u0000b', 'must not contain U+0000'],
    ['only U+0000', '\u0000', 'must not contain U+0000'],
    ['one unit too long', 'x'.repeat(MAX_TAG_LENGTH + 1), `must be at most ${MAX_TAG_LENGTH} characters`],
    ['too long, with astral characters', '😀'.repeat(MAX_TAG_LENGTH + 1), `must be at most ${MAX_TAG_LENGTH} characters`],
    ['a lone surrogate', 'a\uD800', 'must not contain lone surrogates'],
    ['a number', 5, 'expected string'],
    ['null', null, 'expected string'],
    ['undefined', undefined, 'expected string'],
  ])('rejects %s', (_label, tag, message) => {
    const error = optionError(tagSchema, tag, 'byRun(): run');
    expect(error.message.startsWith('byRun(): run: ')).toBe(true);
    expect(error.message).toContain(message);
  });

  test('MAX_TAG_LENGTH counts characters (code points), as documented: 256 astral characters pass, 257 do not', () => {
    // 256 × "😀" is 512 UTF-16 code units but 256 characters.
    expect(parseArgument(tagSchema, '😀'.repeat(MAX_TAG_LENGTH), 'byRun(): run')).toHaveLength(MAX_TAG_LENGTH * 2);
    expect(optionError(tagSchema, '😀'.repeat(MAX_TAG_LENGTH + 1), 'byRun(): run').message).toContain(`must be at most ${MAX_TAG_LENGTH} characters`);
  });
});

describe('ifVersionSchema', () => {
  test('accepts 0, null and positive safe integers', () => {
    for (const v of [0, null, 1, 42, Number.MAX_SAFE_INTEGER]) expect(parseArgument(ifVersionSchema, v, 'ifVersion')).toBe(v);
  });

  test.each([[-1], [1.5], [NaN], [Infinity], [-Infinity], ['1'], [true], [undefined], [2 ** 53], [{}]])('rejects %s', (v) => {
    optionError(ifVersionSchema, v, 'put(): options.ifVersion');
  });
});

describe('putOptionsSchema', () => {
  test('accepts every documented option', () => {
    expect(parseArgument(putOptionsSchema, {}, 'put(): options')).toStrictEqual({});
    expect(parseArgument(putOptionsSchema, { run: 'r', type: 't', ttl: 1000, ifVersion: 3 }, 'put(): options')).toStrictEqual({ run: 'r', type: 't', ttl: 1000, ifVersion: 3 });
    expect(parseArgument(putOptionsSchema, { expiresAt: 1_700_000_000_000, ifVersion: null }, 'put(): options')).toStrictEqual({ expiresAt: 1_700_000_000_000, ifVersion: null });
    expect(parseArgument(putOptionsSchema, { ttl: 0.5 }, 'put(): options')).toStrictEqual({ ttl: 0.5 });
    expect(parseArgument(putOptionsSchema, { expiresAt: -5 }, 'put(): options')).toStrictEqual({ expiresAt: -5 });
    // An explicit undefined counts as "not given", also for the ttl/expiresAt rule.
    expect(() => parseArgument(putOptionsSchema, { ttl: undefined, expiresAt: 5 }, 'put(): options')).not.toThrow();
  });

  test.each(['bogus', 'TTL', 'expires', 'version', 'isolation', 'limit', '__proto__x'])('rejects the unknown option name %j, naming it', (name) => {
    expect(optionError(putOptionsSchema, { [name]: 1 }).message).toContain(`"${name}"`);
  });

  test.each([
    ['zero', 0, 'must be > 0'],
    ['negative', -1, 'must be > 0'],
    ['NaN', NaN, 'put(): options.ttl'],
    ['Infinity', Infinity, 'put(): options.ttl'],
    ['-Infinity', -Infinity, 'put(): options.ttl'],
    ['a string', '1000', 'put(): options.ttl'],
    ['null', null, 'put(): options.ttl'],
  ])('rejects a ttl that is %s', (_label, ttl, message) => {
    expect(optionError(putOptionsSchema, { ttl }).message).toContain(message);
  });

  test.each([[NaN], [Infinity], [-Infinity], ['2030-01-01'], [new Date(0)]])('rejects expiresAt %s', (expiresAt) => {
    expect(optionError(putOptionsSchema, { expiresAt }).message).toContain('put(): options.expiresAt');
  });

  test('rejects ttl together with expiresAt', () => {
    expect(optionError(putOptionsSchema, { ttl: 1000, expiresAt: 5 }).message).toBe('put(): options: give either ttl or expiresAt, not both');
  });

  test.each([[-1], [0.5], [NaN], ['3'], [true], [Infinity]])('rejects ifVersion %s', (ifVersion) => {
    expect(optionError(putOptionsSchema, { ifVersion }).message).toContain('put(): options.ifVersion');
  });

  test.each([
    ['run', ''],
    ['run', 'a\u0000b'],
    ['run', 'x'.repeat(MAX_TAG_LENGTH + 1)],
    ['run', '\uDC00'],
    ['run', 7],
    ['type', ''],
    ['type', '\u0000'],
    ['type', 'x'.repeat(MAX_TAG_LENGTH + 1)],
    ['type', '\uD800x'],
    ['type', null],
  ])('rejects %s = %j', (field, tag) => {
    expect(optionError(putOptionsSchema, { [field]: tag }).message).toContain(`put(): options.${field}:`);
  });
});

describe('deleteOptionsSchema', () => {
  test('accepts ifVersion only', () => {
    expect(parseArgument(deleteOptionsSchema, { ifVersion: 0 }, 'delete(): options')).toStrictEqual({ ifVersion: 0 });
    expect(parseArgument(deleteOptionsSchema, {}, 'delete(): options')).toStrictEqual({});
  });

  test.each(['ttl', 'run', 'type', 'expiresAt', 'bogus'])('rejects the option %j, naming it', (name) => {
    expect(optionError(deleteOptionsSchema, { [name]: 1 }, 'delete(): options').message).toContain(`"${name}"`);
  });

  test.each([[-1], [2.5], ['1'], [NaN]])('rejects ifVersion %s', (ifVersion) => {
    expect(optionError(deleteOptionsSchema, { ifVersion }, 'delete(): options').message).toContain('delete(): options.ifVersion');
  });
});

describe('scanOptionsSchema', () => {
  test('accepts every documented option', () => {
    const all = { prefix: 'p', gt: 'a', lt: 'z', reverse: true, limit: 10 };
    expect(parseArgument(scanOptionsSchema, all, 'scan(): options')).toStrictEqual(all);
    expect(parseArgument(scanOptionsSchema, { gte: 'a', lte: 'z', limit: 0 }, 'scan(): options')).toStrictEqual({ gte: 'a', lte: 'z', limit: 0 });
    expect(parseArgument(scanOptionsSchema, { gt: 'a', lte: 'b' }, 'scan(): options')).toStrictEqual({ gt: 'a', lte: 'b' });
  });

  test('rejects gt together with gte, and lt together with lte', () => {
    expect(optionError(scanOptionsSchema, { gt: 'a', gte: 'a' }, 'scan(): options').message).toContain('give either gt or gte, not both');
    expect(optionError(scanOptionsSchema, { lt: 'z', lte: 'z' }, 'scan(): options').message).toContain('give either lt or lte, not both');
  });

  test.each([[-1], [1.5], [-0.5], [NaN], [Infinity], ['10'], [null]])('rejects limit %s', (limit) => {
    expect(optionError(scanOptionsSchema, { limit }, 'scan(): options').message).toContain('scan(): options.limit');
  });

  test.each([
    ['prefix', 5],
    ['gt', null],
    ['gte', 1],
    ['lt', {}],
    ['lte', ['z']],
    ['reverse', 'yes'],
    ['reverse', 1],
  ])('rejects %s = %j', (field, value) => {
    expect(optionError(scanOptionsSchema, { [field]: value }, 'scan(): options').message).toContain(`scan(): options.${field}`);
  });

  test.each(['start', 'end', 'from', 'keys', 'offset'])('rejects the unknown option %j, naming it', (name) => {
    expect(optionError(scanOptionsSchema, { [name]: 'a' }, 'scan(): options').message).toContain(`"${name}"`);
  });
});

describe('batchOpSchema and batchSchema', () => {
  test('accepts puts (with options) and deletes (with ifVersion)', () => {
    const ops = [
      { op: 'put', key: 'a', value: { x: 1 }, run: 'r', type: 't', ttl: 5, ifVersion: 0 },
      { op: 'put', key: 'b', value: null, expiresAt: 10 },
      { op: 'delete', key: 'c', ifVersion: 3 },
      { op: 'delete', key: 'd' },
    ];
    expect(parseArgument(batchSchema, ops, 'batch(): ops')).toStrictEqual(ops);
    expect(parseArgument(batchSchema, [], 'batch(): ops')).toStrictEqual([]);
    expect(parseArgument(batchOpSchema, ops[2], 'batch(): ops[2]')).toStrictEqual(ops[2]);
  });

  test('keys and values are not judged here (assertKey / prepareValue do that) but must be present', () => {
    expect(parseArgument(batchOpSchema, { op: 'put', key: 5, value: 'v' }, 'op')).toStrictEqual({ op: 'put', key: 5, value: 'v' });
    expect(optionError(batchOpSchema, { op: 'put', value: 1 }, 'op').message).toContain('op.key');
    expect(optionError(batchOpSchema, { op: 'put', key: 'a' }, 'op').message).toContain('op.value');
    expect(optionError(batchOpSchema, { op: 'delete' }, 'op').message).toContain('op.key');
  });

  test.each([
    ['an unknown op', { op: 'merge', key: 'a' }, 'op.op'],
    ['a missing op', { key: 'a', value: 1 }, 'op'],
    ['ttl and expiresAt', { op: 'put', key: 'a', value: 1, ttl: 5, expiresAt: 5 }, 'give either ttl or expiresAt, not both'],
    ['a bad ttl', { op: 'put', key: 'a', value: 1, ttl: -5 }, 'op.ttl: must be > 0'],
    ['a bad run', { op: 'put', key: 'a', value: 1, run: '' }, 'op.run'],
    ['a bad ifVersion on delete', { op: 'delete', key: 'a', ifVersion: -1 }, 'op.ifVersion'],
    ['a value on delete', { op: 'delete', key: 'a', value: 1 }, '"value"'],
    ['a ttl on delete', { op: 'delete', key: 'a', ttl: 5 }, '"ttl"'],
    ['an unknown name on put', { op: 'put', key: 'a', value: 1, bogus: true }, '"bogus"'],
    ['null', null, 'op'],
  ])('rejects %s', (_label, op, message) => {
    expect(optionError(batchOpSchema, op, 'op').message).toContain(message);
  });

  test.each([
    ['an object', { 0: { op: 'delete', key: 'a' } }],
    ['a string', 'put a 1'],
    ['null', null],
    ['a Set', new Set([{ op: 'delete', key: 'a' }])],
  ])('batchSchema rejects %s instead of an array', (_label, ops) => {
    optionError(batchSchema, ops, 'batch(): ops');
  });

  test('batchSchema names the index of the bad op', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(optionError(batchSchema, [{ op: 'delete', key: 'a' }, , { op: 'delete', key: 'b' }], 'batch(): ops').message).toContain('batch(): ops.1');
    expect(optionError(batchSchema, [{ op: 'delete', key: 'a' }, { op: 'delete', key: 'b', nope: 1 }], 'batch(): ops').message).toContain('batch(): ops.1');
  });
});

describe('transactionOptionsSchema', () => {
  test('accepts both isolation levels and retries 0..1000', () => {
    expect(ISOLATION_LEVELS).toEqual(['snapshot', 'serializable']);
    for (const isolation of ISOLATION_LEVELS) expect(parseArgument(transactionOptionsSchema, { isolation }, 'begin(): options')).toStrictEqual({ isolation });
    for (const retries of [0, 3, 1000]) expect(parseArgument(transactionOptionsSchema, { retries }, 'begin(): options')).toStrictEqual({ retries });
    expect(parseArgument(transactionOptionsSchema, {}, 'begin(): options')).toStrictEqual({});
  });

  test.each([
    ['isolation', 'SERIALIZABLE'],
    ['isolation', 'read-committed'],
    ['isolation', ''],
    ['isolation', null],
    ['retries', -1],
    ['retries', 1.5],
    ['retries', 1001],
    ['retries', NaN],
    ['retries', Infinity],
    ['retries', '3'],
  ])('rejects %s = %j', (field, value) => {
    expect(optionError(transactionOptionsSchema, { [field]: value }, 'transaction(): options').message).toContain(`transaction(): options.${field}`);
  });

  test.each(['timeout', 'readOnly', 'isolationLevel'])('rejects the unknown option %j, naming it', (name) => {
    expect(optionError(transactionOptionsSchema, { [name]: 1 }, 'begin(): options').message).toContain(`"${name}"`);
  });
});

/**
 * The defaults of open()'s options as the README's "Limits and options" table states them
 * (`16 MiB`, `0 (none)`, `'always'`, `true`, ...), by option name; rows without a plain value
 * (`Date.now`, `—`, `the real one`) are left out. The tests compare the schema against this, so a
 * default changed in one place and not the other fails, and no test keeps a copy of its own.
 */
function documentedDefaults(): Map<string, unknown> {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const section = readme.slice(readme.indexOf('## Limits and options'));
  const units: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
  const out = new Map<string, unknown>();
  for (const [, name, cell] of section.matchAll(/^\| `([\w.]+)` \| ([^|]+?) \|/gm)) {
    const text = cell!.trim();
    const number = /^(\d+)(?: (KiB|MiB|GiB))?(?: \(none\))?$/.exec(text);
    // A default derived from the machine (values live off the V8 heap).
    if (text === "half the machine's memory") out.set(name!, Math.floor(totalmem() / 2));
    else if (number !== null) out.set(name!, Number(number[1]) * (number[2] === undefined ? 1 : units[number[2]]!));
    else if (text === 'true' || text === 'false') out.set(name!, text === 'true');
    else if (/^`'[\w-]+'`$/.test(text)) out.set(name!, text.slice(2, -2));
  }
  return out;
}

describe('maintenanceOptionsSchema', () => {
  test('defaults (as the README documents them), and accepted bounds', () => {
    const defaults = parseArgument(maintenanceOptionsSchema, {}, 'm');
    const documented = documentedDefaults();
    expect(defaults).toStrictEqual(Object.fromEntries(Object.keys(defaults).map((name) => [name, documented.get(`maintenance.${name}`)])));
    expect(Object.keys(defaults).length).toBeGreaterThan(0);
    expect(parseArgument(maintenanceOptionsSchema, { intervalMs: 0 }, 'm')).toStrictEqual({ ...defaults, intervalMs: 0 });
    expect(parseArgument(maintenanceOptionsSchema, { intervalMs: 3_600_000, sliceMs: 1000 }, 'm')).toStrictEqual({ ...defaults, intervalMs: 3_600_000, sliceMs: 1000 });
    expect(parseArgument(maintenanceOptionsSchema, { sliceMs: 0.25 }, 'm')).toStrictEqual({ ...defaults, sliceMs: 0.25 });
  });

  test.each([
    ['intervalMs', -1],
    ['intervalMs', 1.5],
    ['intervalMs', 3_600_001],
    ['intervalMs', NaN],
    ['intervalMs', '1000'],
    ['sliceMs', 0],
    ['sliceMs', -1],
    ['sliceMs', 1001],
    ['sliceMs', Infinity],
    ['gcPressureVersions', -1],
    ['gcPressureVersions', 0.5],
    ['checkpointRetryMs', 0],
    ['checkpointRetryMs', 3_600_001],
    ['workers', 65],
    ['workers', -1],
    ['checkpointWalBytes', 1023],
  ])('rejects %s = %j', (field, value) => {
    expect(optionError(maintenanceOptionsSchema, { [field]: value }, 'm').message).toContain(`m.${field}`);
  });

  test('rejects unknown names', () => {
    expect(optionError(maintenanceOptionsSchema, { everyMs: 5 }, 'm').message).toContain('"everyMs"');
  });
});

describe('openOptionsSchema', () => {
  test('defaults are the ones the README documents (its "Limits and options" table), for every option', () => {
    const parsed = parseArgument(openOptionsSchema, {}, 'open(): options');
    const { maintenance, ...top } = parsed;
    const documented = documentedDefaults();
    const expected = Object.fromEntries(Object.keys(top).map((name) => [name, documented.get(name)]));
    const expectedMaintenance = Object.fromEntries(Object.keys(maintenance).map((name) => [name, documented.get(`maintenance.${name}`)]));
    expect({ ...top, maintenance }).toStrictEqual({ ...expected, maintenance: expectedMaintenance });
    // Options without a default (clock, dir, fileSystem, onRecoveryEvent) are left out of the parsed object.
    expect(Object.keys(top).length).toBeGreaterThan(10);
  });

  test('partial maintenance options are completed with defaults; the clock is kept by identity', () => {
    const clock = { now: () => 5 };
    const parsed = parseArgument(openOptionsSchema, { clock, maintenance: { intervalMs: 0 }, retainVersions: 10 }, 'open(): options');
    expect(parsed.clock).toBe(clock);
    expect(parsed.maintenance).toStrictEqual({ ...parseArgument(maintenanceOptionsSchema, {}, 'm'), intervalMs: 0 });
    expect(parsed.retainVersions).toBe(10);
    expect(parseArgument(openOptionsSchema, { maxKeyBytes: 1, maxValueBytes: 1 }, 'o')).toMatchObject({ maxKeyBytes: 1, maxValueBytes: 1 });
    expect(parseArgument(openOptionsSchema, { maxKeyBytes: 65_535, maxValueBytes: 1024 ** 3 }, 'o')).toMatchObject({ maxKeyBytes: 65_535, maxValueBytes: 1024 ** 3 });
  });

  test.each([
    ['clock', {}],
    ['clock', { now: 5 }],
    ['clock', () => 5],
    ['clock', null],
    ['maxKeyBytes', 0],
    ['maxKeyBytes', 65_536],
    ['maxKeyBytes', 1.5],
    ['maxKeyBytes', '1024'],
    ['maxValueBytes', 0],
    ['maxValueBytes', 1024 ** 3 + 1],
    ['maxValueBytes', Infinity],
    ['retainVersions', -1],
    ['retainVersions', 0.5],
    ['retainVersions', NaN],
    ['maintenance', null],
    ['maintenance', 1000],
  ])('rejects %s = %j', (field, value) => {
    expect(optionError(openOptionsSchema, { [field]: value }, 'open(): options').message).toContain(`open(): options.${field}`);
  });

  test('rejects unknown names, top-level and nested, naming them', () => {
    expect(optionError(openOptionsSchema, { directory: '/tmp/db' }, 'open(): options').message).toContain('"directory"');
    expect(optionError(openOptionsSchema, { maintenance: { intervalMs: 5, bogus: 1 } }, 'open(): options').message).toContain('open(): options.maintenance: Unrecognized key: "bogus"');
  });
});

// ---------------------------------------------------------------- error classes

describe('error classes', () => {
  const cause = new Error('root cause');
  const instances: readonly [new (...args: never[]) => EpochError, EpochError, ErrorCode][] = [
    [InvalidKeyError, new InvalidKeyError('bad key', { cause }), 'INVALID_KEY'],
    [InvalidValueError, new InvalidValueError('bad value', { cause }), 'INVALID_VALUE'],
    [InvalidOptionError, new InvalidOptionError('bad option', { cause }), 'INVALID_OPTION'],
    [DatabaseClosedError, new DatabaseClosedError('closed', { cause }), 'CLOSED'],
    [SnapshotReleasedError, new SnapshotReleasedError('released', { cause }), 'SNAPSHOT_RELEASED'],
    [TransactionFinishedError, new TransactionFinishedError('finished', { cause }), 'TRANSACTION_FINISHED'],
    [ConflictError, new ConflictError('conflict', 'the-key', { cause }), 'CONFLICT'],
    [VersionMismatchError, new VersionMismatchError('k', 2, 3), 'VERSION_MISMATCH'],
    [VersionUnavailableError, new VersionUnavailableError('unavailable', { cause }), 'VERSION_UNAVAILABLE'],
    [CorruptionError, new CorruptionError('bad checksum', { file: 'wal', offset: 7, lastGoodVersion: 3 }, { cause }), 'CORRUPTION'],
    [UnsupportedFormatError, new UnsupportedFormatError('newer format', { cause }), 'UNSUPPORTED_FORMAT'],
    [LockedError, new LockedError('locked', { cause }), 'LOCKED'],
    [IoError, new IoError('EIO', { cause }), 'IO_ERROR'],
    [DatabaseFailedError, new DatabaseFailedError('failed', { cause }), 'FAILED'],
    [LimitExceededError, new LimitExceededError('too big', 'maxTransactionOps', { cause }), 'LIMIT_EXCEEDED'],
    [LeaseExpiredError, new LeaseExpiredError('too old', { cause }), 'LEASE_EXPIRED'],
    [UniqueViolationError, new UniqueViolationError('taken', { index: 'user.byEmail', existingKey: 'u1', key: 'u2' }, { cause }), 'UNIQUE_VIOLATION'],
    [WatchOverflowError, new WatchOverflowError('behind', 17, { cause }), 'WATCH_OVERFLOW'],
    [ReadOnlyError, new ReadOnlyError('read-only', { cause }), 'READ_ONLY'],
    [ReplicationError, new ReplicationError('not replicated', true, { cause }), 'REPLICATION'],
    [CollectionMismatchError, new CollectionMismatchError('user:1', 'user', undefined), 'COLLECTION_MISMATCH'],
    [IndexMissingError, new IndexMissingError('no function', 'user.byEmail', { cause }), 'INDEX_MISSING'],
    [AuthenticationError, new AuthenticationError('refused', 'rejected', { cause }), 'AUTHENTICATION'],
    [TlsError, new TlsError('unverified', { cause }), 'TLS'],
    [PermissionDeniedError, new PermissionDeniedError('denied', { operation: 'publish', subject: 'epochdb.x.log' }, { cause }), 'PERMISSION_DENIED'],
  ];

  test.each(instances.map(([Class, error, code]) => [Class.name, Class, error, code] as const))('%s: stable code, name, prototype chain', (name, Class, error, code) => {
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(error).toBeInstanceOf(Class);
    expect(error).toBeInstanceOf(EpochError);
    expect(error).toBeInstanceOf(Error);
    expect(typeof error.stack).toBe('string');
    expect(Object.prototype.toString.call(error)).toBe('[object Error]');
    expect(String(error)).toBe(`${name}: ${error.message}`);
    // The code is the same for every instance (it does not depend on the message).
    const other =
      Class === VersionMismatchError
        ? new VersionMismatchError('x', 0, 1)
        : Class === ConflictError
          ? new ConflictError('other', 'x')
          : Class === CorruptionError
            ? new CorruptionError('other', { file: 'f', offset: 0, lastGoodVersion: 0 })
            : Class === UniqueViolationError
              ? new UniqueViolationError('other', { index: 'i', existingKey: 'a', key: 'b' })
              : Class === ReplicationError
                ? new ReplicationError('other', false)
                : Class === CollectionMismatchError
                  ? new CollectionMismatchError('x', 'c', 't')
                  : Class === PermissionDeniedError
                    ? new PermissionDeniedError('other', { operation: 'subscription', subject: '_INBOX.>' })
                    : Class === AuthenticationError
                      ? new AuthenticationError('other', 'missing')
                      : new (Class as new (m: string) => EpochError)('other');
    expect(other.code).toBe(code);
  });

  test('cause is preserved', () => {
    for (const [, error] of instances) {
      if (error instanceof VersionMismatchError || error instanceof CollectionMismatchError) continue; // take no options
      expect(error.cause).toBe(cause);
    }
    expect(new InvalidKeyError('no cause').cause).toBeUndefined();
    expect('cause' in new InvalidKeyError('no cause')).toBe(false);
  });

  test('ERROR_CODES lists every code exactly once, and each class has its own', () => {
    const codes = instances.map(([, , code]) => code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect([...ERROR_CODES].sort()).toEqual([...codes].sort());
    for (const [, error] of instances) expect(ERROR_CODES).toContain(error.code);
  });

  test('CorruptionError names the file, offset and last good version', () => {
    const error = new CorruptionError('checksum mismatch', { file: 'wal-1.log', offset: 96, lastGoodVersion: 41 });
    expect([error.file, error.offset, error.lastGoodVersion]).toEqual(['wal-1.log', 96, 41]);
    expect(error.message).toBe('checksum mismatch (file wal-1.log, offset 96, last good version 41)');
  });

  test('ConflictError and VersionMismatchError carry their details', () => {
    const conflict = new ConflictError('lost', 'k1');
    expect(conflict.key).toBe('k1');
    expect(conflict.message).toBe('lost');
    const mismatch = new VersionMismatchError('k2', 4, 7);
    expect(mismatch).toMatchObject({ key: 'k2', expected: 4, actual: 7, code: 'VERSION_MISMATCH' });
    expect(mismatch.message).toContain('"k2"');
    expect(mismatch.message).toContain('ifVersion 4');
    expect(mismatch.message).toContain('current version is 7');
    expect(new VersionMismatchError('k3', 2, 0).message).toContain('the key does not exist');
  });

  test('name follows the concrete class, also for subclasses', () => {
    class CustomKeyError extends InvalidKeyError {}
    const error = new CustomKeyError('x');
    expect(error.name).toBe('CustomKeyError');
    expect(error.code).toBe('INVALID_KEY');
    expect(error).toBeInstanceOf(InvalidKeyError);
  });

  test('the errors thrown by assertKey and parseArgument are these classes', () => {
    expect(caught(() => assertKey('', 'k', 10), InvalidKeyError).name).toBe('InvalidKeyError');
    expect(caught(() => parseArgument(scanOptionsSchema, { limit: -1 }, 's'), InvalidOptionError).name).toBe('InvalidOptionError');
  });
});
