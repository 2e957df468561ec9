import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientMessages, PROTOCOL_VERSION, ProtocolError, ProtocolVersionError, ServerMessages, bodyWeights, decodeMessage, encodeMessage, encodeMessageParts, weightsBody } from './messages.js';

describe('protocol messages', () => {
  it('refuses a message of any other protocol version, naming both versions', () => {
    const hello = encodeMessage('hello', { resources: { cpuCores: 1, memoryMb: 1 }, agent: 'x' });
    expect(decodeMessage(hello, ClientMessages).kind).toBe('hello');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }).filter((v) => v !== PROTOCOL_VERSION), (version) => {
        const other = Uint8Array.from(hello);
        other[1] = version;
        const error = (() => {
          try {
            decodeMessage(other, ClientMessages);
          } catch (e) {
            return e;
          }
        })();
        expect(error).toBeInstanceOf(ProtocolVersionError);
        expect((error as ProtocolVersionError).code).toBe('MESSAGE_VERSION');
        expect((error as ProtocolVersionError).peer).toBe(version);
        expect((error as Error).message).toContain(`protocol version ${version}, this side speaks version ${PROTOCOL_VERSION}`);
      }),
    );
  });

  it('round-trips a header and a weights body', () => {
    const weights = Float32Array.from([0.5, -1.25, 3]);
    const header = { roundId: 'round-1', round: 2, numExamples: 40, loss: 0.3, seconds: 1.5, encoding: 'float32', sha256: 'a'.repeat(64) };
    const message = decodeMessage(encodeMessage('update', header, weightsBody(weights)), ClientMessages);
    expect(message.kind).toBe('update');
    expect(message.header).toEqual(header);
    expect(Array.from(bodyWeights(message.body, 3))).toEqual([0.5, -1.25, 3]);
  });

  it('carries the privacy plan and protection of a task, and a protection stage, refusing unknown stages and weightings', () => {
    const task = {
      roundId: 'round-1',
      round: 1,
      modelVersion: 1,
      sha256: 'b'.repeat(64),
      plan: { epochs: 1, batchSize: 32, learningRate: 0.01, optimizer: 'adam', momentum: 0.9, proximalMu: 0 },
      seed: 7,
      deadline: 1,
      privacy: { mode: 'local', clipNorm: 1, noiseMultiplier: 1.1, noise: 'secure' },
      releaseLoss: false,
      protection: { kind: 'secagg', config: { roundId: 'round-1' }, identityKeys: { alice: Buffer.alloc(32, 1).toString('base64') }, weighting: { kind: 'examples', weight: 40, totalWeight: 100 } },
    };
    expect(decodeMessage(encodeMessage('task', task), ServerMessages).header).toEqual(task);
    const badWeighting = { ...task, protection: { ...task.protection, weighting: { kind: 'equal' } } };
    expect(() => decodeMessage(encodeMessage('task', badWeighting), ServerMessages)).toThrow(/'task' message field 'protection\.weighting\.kind'/);
    const stage = decodeMessage(encodeMessage('stage', { roundId: 'round-1', protocol: 'secagg', stage: 'advertiseKeys' }, new Uint8Array([1, 2])), ClientMessages);
    expect(stage.kind === 'stage' && [...stage.body]).toEqual([1, 2]);
    expect(() => decodeMessage(encodeMessage('stage', { roundId: 'round-1', protocol: 'secagg', stage: 'maskedInput' }), ClientMessages)).toThrow(/'stage' message field 'stage'/);
  });

  it('encodes the same bytes as two parts, the body not copied', () => {
    const body = weightsBody(Float32Array.from([1, 2, 3, 4]));
    const header = { roundId: 'round-1', outcome: 'accepted' };
    const [head, tail] = encodeMessageParts('ack', header, body);
    expect(tail).toBe(body);
    expect(Buffer.concat([head, tail]).equals(Buffer.from(encodeMessage('ack', header, body)))).toBe(true);
  });

  it('starts the body on a 4-byte boundary of the carrying frame, the header decoding as before', () => {
    fc.assert(
      fc.property(fc.nat(200), fc.string({ maxLength: 40 }), fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => x + 0), (at, roundId, loss) => {
        const header = { roundId: `r${roundId}`, round: 1, numExamples: 3, loss, seconds: 1, encoding: 'float32' as const, sha256: 'a'.repeat(64) };
        const body = weightsBody(Float32Array.from([1, 2, 3]));
        const message = encodeMessage('update', header, body, at);
        const bodyAt = message.length - body.length;
        expect((at + bodyAt) % 4).toBe(0);
        const decoded = decodeMessage(message, ClientMessages);
        expect(decoded.header).toEqual(ClientMessages.update.parse(header));
        expect(Buffer.from(decoded.body).equals(Buffer.from(body))).toBe(true);
      }),
    );
  });

  it('refuses unknown kinds, bad headers and wrong body sizes with a ProtocolError naming the problem', () => {
    expect(() => decodeMessage(encodeMessage('steal', {}), ClientMessages)).toThrow(/unknown message kind 'steal'/);
    expect(() => decodeMessage(encodeMessage('offer', { roundId: 'r', round: 0, bytes: 4 }), ClientMessages)).toThrow(/'offer' message field 'round'/);
    expect(() => decodeMessage(encodeMessage('offer', { roundId: 'r', round: 1, bytes: 4, extra: 1 }), ClientMessages)).toThrow(ProtocolError);
    expect(() => decodeMessage(encodeMessage('task', {}), ClientMessages)).toThrow(/unknown message kind/);
    expect(() => bodyWeights(new Uint8Array(8), 3)).toThrow(/12 bytes\) were expected/);
  });

  it('never throws anything but a ProtocolError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeMessage(bytes, ClientMessages);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but a ProtocolError on valid frames with corrupted bytes', () => {
    const valid = encodeMessage('ack', { roundId: 'round-7', outcome: 'accepted' });
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(valid.length), (at, value, cut) => {
        const bytes = new Uint8Array(valid);
        bytes[at] = value;
        try {
          const message = decodeMessage(bytes.subarray(0, cut), ServerMessages);
          expect(message.kind).toBe('ack');
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
