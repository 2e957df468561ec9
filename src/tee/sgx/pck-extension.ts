/**
 * The SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1): the platform's FMSPC, PCE id
 * and the TCB it was certified at, per Intel's "SGX PCK Certificate and Certificate Revocation
 * List Profile Specification" §1.3.5.
 */
import { childrenOf, contentOf, oidOf, readElement, unsignedOf, type DerElement } from './der.js';

/** Intel's SGX extension OID on PCK certificates. */
export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';

/** What a PCK certificate says about its platform's TCB. */
export interface PckTcb {
  /** Family-model-stepping-platform-customSKU, upper-case hex (6 bytes). */
  fmspc: string;
  /** PCE id, upper-case hex (2 bytes). */
  pceId: string;
  /** The 16 SGX TCB component SVNs. */
  components: number[];
  pceSvn: number;
  cpuSvn: Uint8Array;
}

/** Reads the SGX extension's value, or says what is missing from it. */
export function parsePckExtension(value: Uint8Array): PckTcb | { error: string } {
  const entries = namedEntries(value, readElement(value, 0));
  if (entries === null) return { error: 'the SGX extension is not a sequence of (OID, value) pairs' };
  const fmspc = entries.get(`${SGX_EXTENSION_OID}.4`);
  const pceId = entries.get(`${SGX_EXTENSION_OID}.3`);
  const tcb = entries.get(`${SGX_EXTENSION_OID}.2`);
  if (fmspc?.tag !== 0x04 || pceId?.tag !== 0x04 || tcb?.tag !== 0x30) return { error: 'the SGX extension lacks the FMSPC, PCE id or TCB' };
  const tcbEntries = namedEntries(value, tcb);
  if (tcbEntries === null) return { error: 'the SGX extension TCB is not a sequence of (OID, value) pairs' };
  const components: number[] = [];
  for (let index = 1; index <= 16; index += 1) {
    const component = tcbEntries.get(`${SGX_EXTENSION_OID}.2.${index}`);
    const svn = component && unsignedOf(value, component);
    if (svn === undefined || svn === null) return { error: `the SGX extension TCB lacks component ${index}` };
    components.push(svn);
  }
  const pceSvnElement = tcbEntries.get(`${SGX_EXTENSION_OID}.2.17`);
  const pceSvn = pceSvnElement ? unsignedOf(value, pceSvnElement) : null;
  const cpuSvn = tcbEntries.get(`${SGX_EXTENSION_OID}.2.18`);
  if (pceSvn === null || cpuSvn?.tag !== 0x04) return { error: 'the SGX extension TCB lacks the PCESVN or CPUSVN' };
  return {
    fmspc: hexUpper(contentOf(value, fmspc)),
    pceId: hexUpper(contentOf(value, pceId)),
    components,
    pceSvn,
    cpuSvn: contentOf(value, cpuSvn),
  };
}

/** The values of a SEQUENCE OF SEQUENCE { OID, value } by OID, or null when it is not one. */
function namedEntries(bytes: Uint8Array, sequence: DerElement | null): Map<string, DerElement> | null {
  if (sequence?.tag !== 0x30) return null;
  const children = childrenOf(bytes, sequence);
  if (children === null) return null;
  const entries = new Map<string, DerElement>();
  for (const entry of children) {
    const pair = entry.tag === 0x30 ? childrenOf(bytes, entry) : null;
    if (!pair || pair.length !== 2 || pair[0].tag !== 0x06) return null;
    entries.set(oidOf(bytes, pair[0]), pair[1]);
  }
  return entries;
}

function hexUpper(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}
