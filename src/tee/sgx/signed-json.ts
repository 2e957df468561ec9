/**
 * Intel's signed JSON collateral: the signature covers the exact bytes of one member's value as
 * served (Intel PCS API v4, "TCB Info" and "Enclave Identity" — "signature calculated over
 * tcbInfo body"), so the value is cut out of the text, never re-serialised.
 */

/** The exact text of a top-level member's value in a JSON object, or null when the text is no such object. */
export function rawMember(text: string, key: string): string | null {
  let cursor = skipSpace(text, 0);
  if (text[cursor] !== '{') return null;
  cursor = skipSpace(text, cursor + 1);
  while (cursor < text.length && text[cursor] !== '}') {
    const keyEnd = stringEnd(text, cursor);
    if (keyEnd === null) return null;
    let name: unknown;
    try {
      name = JSON.parse(text.slice(cursor, keyEnd));
    } catch {
      return null;
    }
    cursor = skipSpace(text, keyEnd);
    if (text[cursor] !== ':') return null;
    const valueStart = skipSpace(text, cursor + 1);
    const valueEnd = valueEndOf(text, valueStart);
    if (valueEnd === null) return null;
    if (name === key) return text.slice(valueStart, valueEnd);
    cursor = skipSpace(text, valueEnd);
    if (text[cursor] === ',') cursor = skipSpace(text, cursor + 1);
    else if (text[cursor] !== '}') return null;
  }
  return null;
}

function skipSpace(text: string, from: number): number {
  let cursor = from;
  while (cursor < text.length && ' \t\r\n'.includes(text[cursor])) cursor += 1;
  return cursor;
}

/** Just past the closing quote of the string starting at `from`, or null. */
function stringEnd(text: string, from: number): number | null {
  if (text[from] !== '"') return null;
  for (let cursor = from + 1; cursor < text.length; cursor += 1) {
    if (text[cursor] === '\\') cursor += 1;
    else if (text[cursor] === '"') return cursor + 1;
  }
  return null;
}

/** Just past the value starting at `from` (its well-formedness is JSON.parse's job later), or null. */
function valueEndOf(text: string, from: number): number | null {
  if (text[from] === '"') return stringEnd(text, from);
  if (text[from] !== '{' && text[from] !== '[') {
    let cursor = from;
    while (cursor < text.length && !',}] \t\r\n'.includes(text[cursor])) cursor += 1;
    return cursor > from ? cursor : null;
  }
  let depth = 0;
  for (let cursor = from; cursor < text.length; cursor += 1) {
    const char = text[cursor];
    if (char === '"') {
      const end = stringEnd(text, cursor);
      if (end === null) return null;
      cursor = end - 1;
    } else if (char === '{' || char === '[') depth += 1;
    else if (char === '}' || char === ']') {
      depth -= 1;
      if (depth === 0) return cursor + 1;
    }
  }
  return null;
}
