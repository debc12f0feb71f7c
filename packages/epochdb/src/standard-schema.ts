/**
 * The Standard Schema interface (https://standardschema.dev, v1), which zod
 * (≥ 3.24, and 4), valibot (≥ 1) and arktype (≥ 2) implement: a collection
 * accepts any validator that has it, so an app keeps the validator library
 * and version it already uses. Written out here, as the specification
 * recommends, instead of depending on a package for a few types.
 */

/** A validator: `schema['~standard'].validate(value)` checks a value and returns what the schema outputs. */
export interface StandardSchema<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly '~standard': StandardSchemaProps<Input, Output>;
}

/** The properties under `~standard`. */
export interface StandardSchemaProps<Input = unknown, Output = Input> {
  /** The version of the Standard Schema specification (1). */
  readonly version: 1;
  /** The library that made the schema (`'zod'`, `'valibot'`, `'arktype'`, ...). */
  readonly vendor: string;
  /** Checks `value`: its output, or the issues found. A collection needs a synchronous result. */
  readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
  /** Types only: the schema's input and output types, for inference. */
  readonly types?: StandardTypes<Input, Output> | undefined;
}

/** What `validate` returns: the output value, or the issues. */
export type StandardResult<Output> = { readonly value: Output; readonly issues?: undefined } | { readonly issues: readonly StandardIssue[] };

/** One problem a schema found. */
export interface StandardIssue {
  /** What is wrong. */
  readonly message: string;
  /** Where: property keys (or `{ key }` segments) from the value's root. */
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
}

/** The input and output types a schema declares. */
export interface StandardTypes<Input, Output> {
  /** What the schema accepts. */
  readonly input: Input;
  /** What it outputs (after defaults and transforms). */
  readonly output: Output;
}

/** The type a schema accepts. */
export type SchemaInput<S extends StandardSchema> = NonNullable<S['~standard']['types']>['input'];

/** The type a schema outputs: the type of a collection's values. */
export type SchemaOutput<S extends StandardSchema> = NonNullable<S['~standard']['types']>['output'];

/** Whether `value` is a Standard Schema validator (has `~standard.validate`). */
export function isStandardSchema(value: unknown): value is StandardSchema {
  if (typeof value !== 'object' && typeof value !== 'function') return false;
  if (value === null) return false;
  const props = (value as { '~standard'?: unknown })['~standard'];
  return typeof props === 'object' && props !== null && typeof (props as { validate?: unknown }).validate === 'function';
}
