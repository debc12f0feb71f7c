import type { Entry } from '@epochdb/core';
import { z } from 'zod';
import { fromTagged, toTagged, type Json } from './tagged-json.js';

/** The version of the dump line format; `load` refuses other versions. */
export const DUMP_FORMAT_VERSION = 1;

/** The first line of a dump. */
export interface DumpHeader {
  readonly epochdb: 'dump';
  readonly format: typeof DUMP_FORMAT_VERSION;
  /** The database version the dump was taken at. */
  readonly version: number;
  /** When the dump was taken (ISO 8601). */
  readonly dumpedAt: string;
}

/** The last line of a dump: without it (or with another count) the dump is incomplete. */
export interface DumpTrailer {
  readonly epochdb: 'end';
  readonly entries: number;
}

/** One entry as `load` restores it. */
export interface DumpEntry {
  readonly key: string;
  readonly value: unknown;
  readonly run?: string;
  readonly type?: string;
  readonly expiresAt?: number;
}

const headerSchema = z.strictObject({
  epochdb: z.literal('dump'),
  format: z.number(),
  version: z.number().int().min(0),
  dumpedAt: z.string(),
});

const trailerSchema = z.strictObject({
  epochdb: z.literal('end'),
  entries: z.number().int().min(0),
});

const entrySchema = z.strictObject({
  key: z.string(),
  value: z.json(),
  run: z.string().optional(),
  type: z.string().optional(),
  expiresAt: z.number().optional(),
});

/** A line of a dump that cannot be read; `line` is 1-based. */
export class DumpFormatError extends Error {
  readonly line: number;

  constructor(line: number, message: string, options?: ErrorOptions) {
    super(`line ${line}: ${message}`, options);
    this.name = 'DumpFormatError';
    this.line = line;
  }
}

/** The header line for a dump of a database at `version`. */
export function headerLine(version: number, dumpedAt: Date): string {
  const header: DumpHeader = { epochdb: 'dump', format: DUMP_FORMAT_VERSION, version, dumpedAt: dumpedAt.toISOString() };
  return JSON.stringify(header);
}

/** The trailer line closing a dump of `entries` entries. */
export function trailerLine(entries: number): string {
  const trailer: DumpTrailer = { epochdb: 'end', entries };
  return JSON.stringify(trailer);
}

/** The line for one entry: key, tagged value, and run, type and expiresAt when present. The version is not kept (load commits new ones). */
export function entryLine(entry: Entry): string {
  const line: { [key: string]: Json } = { key: entry.key, value: toTagged(entry.value) };
  if (entry.run !== undefined) line['run'] = entry.run;
  if (entry.type !== undefined) line['type'] = entry.type;
  if (entry.expiresAt !== undefined) line['expiresAt'] = entry.expiresAt;
  return JSON.stringify(line);
}

function parseJson(text: string, line: number): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new DumpFormatError(line, `not JSON: ${(error as Error).message}`, { cause: error });
  }
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
}

/** Parses the header line (line 1), refusing anything but a dump of a known format version. */
export function parseHeader(text: string): DumpHeader {
  const json = parseJson(text, 1);
  if (json === null || typeof json !== 'object' || (json as { epochdb?: unknown }).epochdb !== 'dump') {
    throw new DumpFormatError(1, 'not an epochdb dump: missing header line (the first line of a dump is {"epochdb":"dump",...}, as `epochdb dump` writes it)');
  }
  const result = headerSchema.safeParse(json);
  if (!result.success) throw new DumpFormatError(1, `not an epochdb dump header (${issues(result.error)})`);
  if (result.data.format !== DUMP_FORMAT_VERSION) {
    throw new DumpFormatError(1, `dump format ${result.data.format} is not supported; this epochdb reads format ${DUMP_FORMAT_VERSION}`);
  }
  return result.data as DumpHeader;
}

/** What one line after the header is: an entry, or the trailer. */
export type DumpLine = { readonly kind: 'entry'; readonly entry: DumpEntry } | { readonly kind: 'end'; readonly entries: number };

/** Parses a line after the header. */
export function parseLine(text: string, line: number): DumpLine {
  const json = parseJson(text, line);
  if (json !== null && typeof json === 'object' && (json as { epochdb?: unknown }).epochdb === 'end') {
    const result = trailerSchema.safeParse(json);
    if (!result.success) throw new DumpFormatError(line, `malformed end line (${issues(result.error)})`);
    return { kind: 'end', entries: result.data.entries };
  }
  const result = entrySchema.safeParse(json);
  if (!result.success) throw new DumpFormatError(line, `malformed entry (${issues(result.error)})`);
  const { key, run, type, expiresAt } = result.data;
  let value: unknown;
  try {
    // The value as JSON.parse made it, not zod's copy: rebuilding objects by assignment drops a "__proto__" key.
    value = fromTagged((json as { value: Json }).value);
  } catch (error) {
    throw new DumpFormatError(line, `key ${JSON.stringify(key)}: ${(error as Error).message}`, { cause: error });
  }
  return {
    kind: 'entry',
    entry: { key, value, ...(run === undefined ? {} : { run }), ...(type === undefined ? {} : { type }), ...(expiresAt === undefined ? {} : { expiresAt }) },
  };
}
