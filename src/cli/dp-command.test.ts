import { afterEach, describe, expect, it, vi } from 'vitest';
import { Command, CommanderError } from 'commander';
import { InvalidInputError } from '../core/index.js';
import { registerDpCommand } from './dp-command.js';

function program(): Command {
  const p = new Command('cipher-nexus').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerDpCommand(p);
  return p;
}

async function run(args: string[]): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program().parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out;
}

const MNIST = ['--sampling-rate', String(256 / 60000), '--steps', '14062', '--delta', '1e-5'];

afterEach(() => vi.restoreAllMocks());

describe('dp epsilon', () => {
  it('prints the TF Privacy MNIST vector (3.01, classic) as JSON', async () => {
    const out = JSON.parse(await run(['dp', 'epsilon', ...MNIST, '--noise-multiplier', '1.1', '--conversion', 'classic', '--json']));
    expect(Object.keys(out)).toEqual(['epsilon', 'order', 'conversion', 'mechanism']);
    expect(out.mechanism).toBe('gaussian');
    expect(Math.abs(out.epsilon - 3.01) / 3.01).toBeLessThan(0.01);
    // TF Privacy's orders put it at 9; the search finds the fractional order just below.
    expect(out.order).toBeGreaterThan(8.5);
    expect(out.order).toBeLessThan(9);
    expect(out.conversion).toBe('classic');
  });

  it('uses the improved conversion by default and prints one human line without --json', async () => {
    const json = JSON.parse(await run(['dp', 'epsilon', ...MNIST, '--noise-multiplier', '1.1', '--json']));
    expect(json.conversion).toBe('improved');
    expect(json.epsilon).toBeLessThan(3.01);
    const line = await run(['dp', 'epsilon', ...MNIST, '--noise-multiplier', '1.1']);
    expect(line).toMatch(/^epsilon = 2\.\d{4} at delta = 0\.00001 \(RDP order \d+(\.\d{1,2})?, improved conversion, gaussian\)\n$/);
  });

  it('accounts for the discrete Gaussian with --discrete: never below the continuous figure, and close to it at small q', async () => {
    const args = ['dp', 'epsilon', '--sampling-rate', '0.001', '--noise-multiplier', '2.5', '--steps', '100', '--delta', '1e-5', '--json'];
    const continuous = JSON.parse(await run(args));
    const discrete = JSON.parse(await run([...args, '--discrete']));
    expect(discrete.mechanism).toBe('discrete-gaussian');
    expect(discrete.epsilon).toBeGreaterThanOrEqual(continuous.epsilon);
    expect(discrete.epsilon / continuous.epsilon).toBeLessThan(1.02);
    const noise = JSON.parse(await run(['dp', 'noise', ...MNIST, '--target-epsilon', '3', '--discrete', '--json']));
    expect(noise.mechanism).toBe('discrete-gaussian');
    expect(noise.epsilon).toBeLessThanOrEqual(3);
  });

  it('answers in well under a second', async () => {
    const start = performance.now();
    await run(['dp', 'epsilon', ...MNIST, '--noise-multiplier', '1.1', '--json']);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe('dp noise', () => {
  it('inverts the MNIST vector', async () => {
    const out = JSON.parse(await run(['dp', 'noise', ...MNIST, '--target-epsilon', '3.01', '--conversion', 'classic', '--json']));
    expect(Object.keys(out)).toEqual(['noiseMultiplier', 'epsilon', 'conversion', 'mechanism']);
    expect(out.noiseMultiplier).toBeCloseTo(1.1, 2);
    expect(out.epsilon).toBeLessThanOrEqual(3.01);
    expect(await run(['dp', 'noise', ...MNIST, '--target-epsilon', '3'])).toMatch(/^noise multiplier = 1\.\d{4} gives epsilon = 3\.0000 at delta = 0\.00001 \(improved conversion, gaussian\)\n$/);
  });

  it('lets an unreachable target surface as the library InvalidInputError', async () => {
    await expect(run(['dp', 'noise', ...MNIST, '--target-epsilon', '0.0001', '--conversion', 'classic'])).rejects.toThrow(InvalidInputError);
  });
});

describe('bad flags', () => {
  it.each([
    [['dp', 'epsilon', '--sampling-rate', '0', '--noise-multiplier', '1', '--steps', '10', '--delta', '1e-5'], /--sampling-rate must be a number in \(0, 1\], got '0'/],
    [['dp', 'epsilon', '--sampling-rate', '1.5', '--noise-multiplier', '1', '--steps', '10', '--delta', '1e-5'], /--sampling-rate must be a number in \(0, 1\]/],
    [['dp', 'epsilon', '--sampling-rate', '0.1', '--noise-multiplier', '0', '--steps', '10', '--delta', '1e-5'], /--noise-multiplier must be a positive number/],
    [['dp', 'epsilon', '--sampling-rate', '0.1', '--noise-multiplier', 'abc', '--steps', '10', '--delta', '1e-5'], /--noise-multiplier must be a positive number, got 'abc'/],
    [['dp', 'epsilon', '--sampling-rate', '0.1', '--noise-multiplier', '1', '--steps', '2.5', '--delta', '1e-5'], /--steps must be a non-negative integer/],
    [['dp', 'epsilon', '--sampling-rate', '0.1', '--noise-multiplier', '1', '--steps', '10', '--delta', '1'], /--delta must be a number in \(0, 1\)/],
    [['dp', 'epsilon', '--sampling-rate', '0.1', '--noise-multiplier', '1', '--steps', '10', '--delta', '1e-5', '--conversion', 'tight'], /Allowed choices are classic, improved/],
    [['dp', 'noise', '--target-epsilon', '-1', '--sampling-rate', '0.1', '--steps', '10', '--delta', '1e-5'], /--target-epsilon must be a positive number/],
    [['dp', 'epsilon', '--sampling-rate', '0.1', '--steps', '10', '--delta', '1e-5'], /required option '--noise-multiplier <s>' not specified/],
  ])('%j', async (args, message) => {
    const attempt = run(args);
    await expect(attempt).rejects.toThrow(CommanderError);
    await expect(attempt).rejects.toThrow(message);
  });
});
