/** First byte of an untagged COSE_Sign1 (array of 4) and of a tagged one (tag 18). */
const COSE_SIGN1_FIRST_BYTES = new Set([0x84, 0xd2]);
const HEX = /^(?:0x)?((?:[0-9a-f]{2})+)$/i;
const BASE64 = /^[A-Za-z0-9+/\-_]+={0,2}$/;

/**
 * Turns evidence as read from a file or a flag — raw CBOR, or base64 or hex text of it — into the
 * raw bytes `verifyNitroEvidence` takes. Input in none of these forms comes back as its bytes, for
 * the verifier to refuse at `parse`.
 */
export function nitroEvidenceBytes(input: Uint8Array | string): Uint8Array {
  if (typeof input !== 'string' && COSE_SIGN1_FIRST_BYTES.has(input[0])) return input;
  const raw = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  // Text forms are ASCII; anything else is raw bytes that merely do not start like COSE_Sign1.
  if (raw.some((byte) => byte > 0x7e)) return raw;
  const text = Buffer.from(raw).toString('latin1').replace(/\s+/g, '');
  // Hex of a COSE_Sign1 starts with "84" or "d2"; base64 of one starts with "h" or "0o", never all-hex.
  const hex = HEX.exec(text);
  if (hex !== null) return new Uint8Array(Buffer.from(hex[1], 'hex'));
  if (BASE64.test(text) && text.replace(/=+$/, '').length % 4 !== 1) {
    return new Uint8Array(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
  }
  return raw;
}
