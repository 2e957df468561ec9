import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson, parseWithSchema } from '../core/index.js';

/**
 * The declared shape of a data asset's table: its columns in file order, each numeric or
 * categorical, which one is the label, and how a missing value is spelled. The schema is public
 * (its hash goes on chain with the asset); the rows it describes never leave the owner's node.
 */

/** Cell spellings read as "no value" when a schema names none: empty, UCI's '?', R's 'NA', and 'NaN'. */
export const DEFAULT_MISSING_MARKERS: readonly string[] = ['', '?', 'NA', 'NaN'];

/** A column's kind: numbers, or labels from a finite set. */
export const ColumnTypeSchema = z.enum(['numeric', 'categorical']);
/** A column's kind: numbers, or labels from a finite set. */
export type ColumnType = z.output<typeof ColumnTypeSchema>;

/** One declared column. */
export const DataColumnSchema = z.object({ name: z.string().min(1).max(256), type: ColumnTypeSchema }).strict();

/** A data asset's declared schema. */
export const DataSchemaSchema = z
  .object({
    /** Columns in file order; a file without a header takes these names by position. */
    columns: z.array(DataColumnSchema).min(1).max(100_000),
    /** The name of the label column, one of `columns`. */
    label: z.string().min(1),
    /** Trimmed cell texts that mean "missing". */
    missingMarkers: z.array(z.string()).default([...DEFAULT_MISSING_MARKERS]),
  })
  .strict()
  .superRefine((schema, ctx) => {
    const seen = new Set<string>();
    schema.columns.forEach((column, i) => {
      if (seen.has(column.name)) ctx.addIssue({ code: 'custom', path: ['columns', i, 'name'], message: `names column '${column.name}' a second time; give each column one name` });
      seen.add(column.name);
    });
    if (!seen.has(schema.label)) ctx.addIssue({ code: 'custom', path: ['label'], message: `names '${schema.label}', which is not a declared column; declare it in columns` });
  });

/** A data asset's declared schema, defaults applied. */
export type DataSchema = z.output<typeof DataSchemaSchema>;
/** A data asset's schema as written, before defaults. */
export type DataSchemaInput = z.input<typeof DataSchemaSchema>;

/** Parses a schema as written (JSON, YAML, code); throws InvalidInputError `DATA_SCHEMA_INVALID` naming the first fault. */
export function parseDataSchema(input: unknown, source?: string): DataSchema {
  return parseWithSchema(input, DataSchemaSchema, 'data schema', { source });
}

/** sha256 (hex) of the schema's canonical JSON (sorted keys, no whitespace), defaults applied so equal schemas hash equally. */
export function schemaHash(schema: DataSchema): string {
  return createHash('sha256').update(canonicalJson(schema)).digest('hex');
}
