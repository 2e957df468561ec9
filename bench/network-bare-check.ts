// The bare check of one update for the network benchmark, in a process of its own: open a signed
// update frame of a model of N parameters (sha256 of its payload, Ed25519) and decode its message.
// Prints the mean CPU ms per update. Run by bench/network.ts after each run.
import { createHash } from 'node:crypto';
import { MessageVerifier, encodeSignedFrame, openSignedFrame, signedFramePayloadOffset } from '../src/identity/index.js';
import { ClientMessages, decodeMessage, encodeMessage, weightsBody } from '../src/protocol/index.js';
import { generateCurveKeyPair } from '../src/core/index.js';

const numParams = Number(process.argv[2]);
const { privateKey, publicKey } = generateCurveKeyPair('ed25519');
const signer = { participantId: 'p0000', signingKey: privateKey };
const body = weightsBody(new Float32Array(numParams).map((_, i) => Math.sin(i)));
const header = { roundId: 'round-1', round: 1, numExamples: 100, seconds: 1, encoding: 'float32' as const, sha256: createHash('sha256').update(body).digest('hex') };
// Each frame once: the verifier refuses a replayed nonce.
const frames = Array.from({ length: 60 }, () => encodeSignedFrame(signer, 'update', encodeMessage('update', header, body, signedFramePayloadOffset('p0000', 'update'))));
const verifier = new MessageVerifier({ signingKeyOf: () => publicKey, isRevoked: () => false });
for (const frame of frames.splice(0, 10)) decodeMessage(openSignedFrame(frame, verifier).payload, ClientMessages);
const before = process.cpuUsage();
for (const frame of frames) decodeMessage(openSignedFrame(frame, verifier).payload, ClientMessages);
const used = process.cpuUsage(before);
process.stdout.write(`${(used.user + used.system) / 1000 / frames.length}\n`);
