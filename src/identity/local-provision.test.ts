import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateFingerprint } from './certificate-authority.js';
import { certificateBundlePath } from './certificate-bundle.js';
import { provisionWithLocalKeys } from './local-provision.js';
import { loadParticipantKit, loadServerKit, participantKitPath } from './startup-kit.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cn-local-provision-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('provisionWithLocalKeys', () => {
  it("runs every participant's keygen, provision and kit assembly, leaving a kit per participant that the server kit registers", async () => {
    const outDir = join(dir, 'job');
    const result = await provisionWithLocalKeys({ outDir, participants: ['a', 'b'], serverHost: '127.0.0.1', serverPort: 0 });
    expect([...result.participantKitFiles]).toEqual([
      ['a', participantKitPath(outDir, 'a')],
      ['b', participantKitPath(outDir, 'b')],
    ]);
    expect([...result.certificateBundleFiles.values()]).toEqual([certificateBundlePath(outDir, 'a'), certificateBundlePath(outDir, 'b')]);
    const server = loadServerKit(result.serverKitFile);
    for (const [id, file] of result.participantKitFiles) {
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const kit = loadParticipantKit(file);
      expect(server.participants.get(id)).toEqual({ certificateFingerprint: certificateFingerprint(kit.certificate), signingPublicKey: kit.signingPublicKey });
    }
  });

  it('refuses a repeated or malformed id before making any key, writing nothing', async () => {
    const outDir = join(dir, 'refused');
    await expect(provisionWithLocalKeys({ outDir, participants: ['a', 'b', 'a'], serverHost: '127.0.0.1', serverPort: 0 })).rejects.toMatchObject({
      code: 'PROVISION_INVALID',
      message: "provision field 'participants[2]': 'a' is listed twice; participant ids must be unique",
    });
    await expect(provisionWithLocalKeys({ outDir, participants: [], serverHost: '127.0.0.1', serverPort: 0 })).rejects.toMatchObject({ code: 'PROVISION_INVALID' });
    expect(readdirSync(dir)).toEqual(['job']);
  });
});
