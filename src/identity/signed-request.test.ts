import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/index.js';
import { AuthError } from './errors.js';
import { provisionWithLocalKeys } from './local-provision.js';
import { revokeParticipant } from './provision.js';
import { encodeSignedFrame, openSignedFrame } from './signed-frame.js';
import { MessageVerifier, signerFromKit, type MessageSigner } from './signed-message.js';
import { SIGNATURE_HEADERS, signRequest, verifyRequest, type IncomingHeaders } from './signed-request.js';
import { loadParticipantKit, loadServerKit, participantKitPath, serverKitPath } from './startup-kit.js';

let dir: string;
let alice: MessageSigner;
let bob: MessageSigner;
let verifier: MessageVerifier;
const body = new TextEncoder().encode('{"round":3}');
const PATH = '/v1/jobs/job-1/updates?round=3';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-signed-request-'));
  await provisionWithLocalKeys({ outDir: dir, participants: ['alice', 'bob'], serverHost: '127.0.0.1', serverPort: 8443, validDays: 1 });
  alice = signerFromKit(loadParticipantKit(participantKitPath(dir, 'alice')));
  bob = signerFromKit(loadParticipantKit(participantKitPath(dir, 'bob')));
  verifier = MessageVerifier.forServerKit(loadServerKit(serverKitPath(dir)));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function refusal(headers: IncomingHeaders, method: string, path: string, payload: Uint8Array, v = verifier, now?: number): AuthError {
  try {
    verifyRequest(headers, method, path, payload, v, now);
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError);
    return error as AuthError;
  }
  throw new Error('the request was accepted');
}

describe('signed HTTP requests', () => {
  it('verifies a request signed with a provisioned kit, once', () => {
    const headers = signRequest(alice, 'post', PATH, body);
    expect(Object.keys(headers)).toEqual([...SIGNATURE_HEADERS]);
    expect(headers['x-cn-sender']).toBe('alice');
    expect(headers['x-cn-nonce']).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(headers['x-cn-signature']).toMatch(/^[A-Za-z0-9_-]{86}$/);
    const verified = verifyRequest({ ...headers, host: '127.0.0.1' }, 'POST', PATH, body, verifier);
    expect(verified).toMatchObject({ sender: 'alice', timestamp: Number(headers['x-cn-timestamp']) });
    expect(Buffer.from(verified.nonce).toString('base64url')).toBe(headers['x-cn-nonce']);
    expect(refusal(headers, 'POST', PATH, body)).toMatchObject({ code: 'AUTH_REPLAY', httpStatus: 401 });
  });

  it('refuses the signature at another route, method or query, with another body, or from another key', () => {
    const headers = () => signRequest(alice, 'POST', PATH, body);
    expect(refusal(headers(), 'POST', '/v1/jobs/job-2/updates?round=3', body).code).toBe('AUTH_BAD_SIGNATURE');
    expect(refusal(headers(), 'PUT', PATH, body).code).toBe('AUTH_BAD_SIGNATURE');
    expect(refusal(headers(), 'POST', '/v1/jobs/job-1/updates?round=4', body).code).toBe('AUTH_BAD_SIGNATURE');
    expect(refusal(headers(), 'POST', PATH, new TextEncoder().encode('{"round":4}')).code).toBe('AUTH_BAD_SIGNATURE');
    expect(refusal({ ...signRequest(bob, 'POST', PATH, body), 'x-cn-sender': 'alice' }, 'POST', PATH, body).code).toBe('AUTH_BAD_SIGNATURE');
    // Moved by one millisecond from the signed one (not from the clock, which may have moved on by exactly that).
    const signed = headers();
    expect(refusal({ ...signed, 'x-cn-timestamp': String(Number(signed['x-cn-timestamp']) - 1) }, 'POST', PATH, body).code).toBe('AUTH_BAD_SIGNATURE');
  });

  it("refuses a frame's signature presented as a request's", () => {
    const frame = encodeSignedFrame(alice, 'post', body);
    const opened = openSignedFrame(frame, MessageVerifier.forServerKit(loadServerKit(serverKitPath(dir))));
    const headers = {
      'x-cn-sender': 'alice',
      'x-cn-nonce': Buffer.from(opened.nonce).toString('base64url'),
      'x-cn-timestamp': String(opened.timestamp),
      'x-cn-signature': Buffer.from(frame.subarray(frame.length - 64)).toString('base64url'),
    };
    expect(refusal(headers, 'POST', '/', body).code).toBe('AUTH_BAD_SIGNATURE');
  });

  it('refuses stale requests, unknown and revoked senders', () => {
    expect(refusal(signRequest(alice, 'POST', PATH, body), 'POST', PATH, body, verifier, Date.now() + 120_000)).toMatchObject({ code: 'AUTH_STALE', httpStatus: 401 });
    expect(refusal({ ...signRequest(alice, 'POST', PATH, body), 'x-cn-sender': 'carol' }, 'POST', PATH, body).code).toBe('AUTH_UNKNOWN_PARTICIPANT');
    revokeParticipant(dir, 'bob');
    const reloaded = MessageVerifier.forServerKit(loadServerKit(serverKitPath(dir)));
    expect(refusal(signRequest(bob, 'POST', PATH, body), 'POST', PATH, body, reloaded)).toMatchObject({ code: 'AUTH_REVOKED', httpStatus: 403 });
    expect(() => verifyRequest(signRequest(alice, 'POST', PATH, body), 'POST', PATH, body, reloaded)).not.toThrow();
  });

  it('refuses unsigned requests with AUTH_UNSIGNED naming the missing headers', () => {
    const error = refusal({ host: 'x' }, 'GET', '/v1/jobs', new Uint8Array(0));
    expect(error).toMatchObject({ code: 'AUTH_UNSIGNED', httpStatus: 401 });
    expect(error.message).toContain('x-cn-sender, x-cn-nonce, x-cn-timestamp, x-cn-signature headers');
    const { 'x-cn-signature': _dropped, ...rest } = signRequest(alice, 'GET', '/v1/jobs', new Uint8Array(0));
    expect(refusal(rest, 'GET', '/v1/jobs', new Uint8Array(0)).message).toContain('has no x-cn-signature header;');
  });

  it.each([
    ['x-cn-sender', 'Alice'],
    ['x-cn-sender', ['alice', 'alice']],
    ['x-cn-nonce', 'AAAA'],
    ['x-cn-nonce', `${'A'.repeat(21)}!`],
    ['x-cn-timestamp', '-5'],
    ['x-cn-timestamp', '1e12'],
    ['x-cn-timestamp', '99999999999999999'],
    ['x-cn-signature', 'A'.repeat(85)],
    ['x-cn-signature', `${'A'.repeat(86)}, ${'A'.repeat(86)}`],
  ])('refuses a malformed %s header (%j) with MESSAGE_MALFORMED', (name, value) => {
    const error = refusal({ ...signRequest(alice, 'POST', PATH, body), [name]: value }, 'POST', PATH, body);
    expect(error).toMatchObject({ code: 'MESSAGE_MALFORMED', httpStatus: 400, details: { header: name } });
  });

  it('refuses to sign or verify what is not a method and a request target', () => {
    for (const [method, path] of [
      ['POST', 'v1/jobs'],
      ['POST', '/v1/jobs with space'],
      ['PO ST', '/v1'],
      ['', '/v1'],
    ]) {
      expect(() => signRequest(alice, method, path, body)).toThrow(InvalidInputError);
      expect(refusal(signRequest(alice, 'POST', '/v1', body), method, path, body).code).toBe('MESSAGE_MALFORMED');
    }
  });
});
