import * as z from 'zod';

/**
 * The export formats a migration accepts, and the byte-level vocabulary shared by the detector,
 * the boundary scanner and the chunk parser.
 */

export const EXPORT_FORMATS = ['legacy-tasks', 'json-array', 'qdrant-points', 'jsonl'] as const;
export const ExportFormatSchema = z.enum(EXPORT_FORMATS);
export type ExportFormat = z.infer<typeof ExportFormatSchema>;

/** The top-level key that holds the records array, for the formats whose top level is an object. */
export const RECORDS_KEY = { 'legacy-tasks': 'tasks', 'qdrant-points': 'points' } as const;

/** The top-level key of the legacy export whose value the planner reports. */
export const METADATA_KEY = 'metadata';

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const LBRACE = 0x7b;
export const RBRACE = 0x7d;
export const LBRACKET = 0x5b;
export const RBRACKET = 0x5d;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const LF = 0x0a;
export const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

/** JSON whitespace (space, tab, LF, CR): 1, anything else 0. */
export const WHITESPACE = byteSet(' \t\n\r');

/** Bytes that may appear in a bare JSON literal (number, true, false, null). */
export const SCALAR = byteSet('0123456789+-.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ');

function byteSet(chars: string): Uint8Array {
  const set = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) set[chars.charCodeAt(i)] = 1;
  return set;
}

/** A byte as an error message shows it: `'x'` when printable ASCII, `byte 0x1f` otherwise. */
export function describeByte(byte: number): string {
  if (byte >= 0x20 && byte < 0x7f) return `'${String.fromCharCode(byte)}'`;
  return `byte 0x${byte.toString(16).padStart(2, '0')}`;
}

/** Whether `bytes` starts with the UTF-8 byte order mark. */
export function hasUtf8Bom(bytes: Uint8Array): boolean {
  return bytes[0] === UTF8_BOM[0] && bytes[1] === UTF8_BOM[1] && bytes[2] === UTF8_BOM[2];
}
