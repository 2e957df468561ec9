import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError } from './errors.js';
import { participantOfCertificate, tlsOptionsForClient, tlsOptionsForServer } from './mutual-tls.js';
import { provisionWithLocalKeys } from './local-provision.js';
import { revokeParticipant } from './provision.js';
import { loadParticipantKit, loadServerKit, participantKitPath, serverKitPath, type ParticipantKit, type ServerKit } from './startup-kit.js';

let dir: string;
let kit: ServerKit;
let alice: ParticipantKit;
let bob: ParticipantKit;
let stranger: ParticipantKit;
let server: Server;
let port: number;
let handled = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cn-mtls-'));
  await provisionWithLocalKeys({ outDir: join(dir, 'job'), participants: ['alice', 'bob'], serverHost: '127.0.0.1', serverPort: 8443, validDays: 1 });
  // A participant of another job: a valid certificate from a CA this job does not trust.
  await provisionWithLocalKeys({ outDir: join(dir, 'other'), participants: ['alice'], serverHost: '127.0.0.1', serverPort: 8443, validDays: 1 });
  kit = loadServerKit(serverKitPath(join(dir, 'job')));
  alice = loadParticipantKit(participantKitPath(join(dir, 'job'), 'alice'));
  bob = loadParticipantKit(participantKitPath(join(dir, 'job'), 'bob'));
  stranger = loadParticipantKit(participantKitPath(join(dir, 'other'), 'alice'));

  server = createServer(tlsOptionsForServer(kit), (req, res) => {
    handled += 1;
    try {
      const id = participantOfCertificate((req.socket as TLSSocket).getPeerCertificate(), kit);
      res.end(`hello ${id}`);
    } catch (error) {
      res.statusCode = (error as AuthError).httpStatus;
      res.end((error as AuthError).code);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** GET / over TLS with the given client options; resolves with status and body, rejects on a TLS failure. */
function get(options: object): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', agent: false, ...options }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('mutual TLS with the provisioned kits', () => {
  it('accepts participants with their kit certificates and tells who they are', async () => {
    expect(await get(tlsOptionsForClient(alice))).toEqual({ status: 200, body: 'hello alice' });
    expect(await get(tlsOptionsForClient(bob))).toEqual({ status: 200, body: 'hello bob' });
  });

  // Node completes a TLS 1.3 handshake and then destroys the socket of a client whose chain does not
  // verify, so that client sees a reset; a client with no certificate gets OpenSSL's alert.
  it('refuses a client whose certificate comes from another CA before any request reaches the application', async () => {
    const before = handled;
    await expect(get({ ...tlsOptionsForClient(stranger), ca: alice.caCertificate })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(handled).toBe(before);
  });

  it('refuses a client without a certificate', async () => {
    const before = handled;
    await expect(get({ ca: alice.caCertificate, minVersion: 'TLSv1.3' })).rejects.toMatchObject({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    expect(handled).toBe(before);
  });

  it("makes the client refuse a server that is not the job's", async () => {
    await expect(get(tlsOptionsForClient(stranger))).rejects.toMatchObject({ code: 'SELF_SIGNED_CERT_IN_CHAIN' });
  });

  it('refuses TLS 1.2', async () => {
    await expect(get({ ...tlsOptionsForClient(alice), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).rejects.toThrow(/protocol version|alert/i);
  });
});

describe('participantOfCertificate', () => {
  it('maps the certificate to its participant only when it is the registered one and the id is not revoked', () => {
    const peer = { raw: new X509Certificate(alice.certificate).raw, subject: { CN: 'alice' } } as const;
    expect(participantOfCertificate(peer, kit)).toBe('alice');
    const cases: [object, string, number][] = [
      [{}, 'AUTH_NO_CERTIFICATE', 401],
      [{ ...peer, subject: { CN: 'carol' } }, 'AUTH_UNKNOWN_PARTICIPANT', 401],
      [{ ...peer, subject: { CN: 'constructor' } }, 'AUTH_UNKNOWN_PARTICIPANT', 401],
      [{ ...peer, subject: { CN: 'bob' } }, 'AUTH_CERTIFICATE_MISMATCH', 401],
      [{ ...peer, subject: {} }, 'AUTH_UNKNOWN_PARTICIPANT', 401],
    ];
    for (const [fields, code, status] of cases) {
      expect(() => participantOfCertificate(fields, kit)).toThrow(expect.objectContaining({ code, httpStatus: status }));
    }
    revokeParticipant(join(dir, 'job'), 'alice');
    const reloaded = loadServerKit(serverKitPath(join(dir, 'job')));
    expect(() => participantOfCertificate(peer, reloaded)).toThrow(expect.objectContaining({ code: 'AUTH_REVOKED', httpStatus: 403 }));
  });

  it('gives 403 over TLS once the server has reloaded a kit that revokes the participant', async () => {
    revokeParticipant(join(dir, 'job'), 'alice');
    kit = loadServerKit(serverKitPath(join(dir, 'job')));
    expect(await get(tlsOptionsForClient(alice))).toEqual({ status: 403, body: 'AUTH_REVOKED' });
    expect(await get(tlsOptionsForClient(bob))).toEqual({ status: 200, body: 'hello bob' });
  });
});
