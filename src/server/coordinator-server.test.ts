import { describe, expect, it } from 'vitest';
import { operatorListenerWarnings } from './coordinator-server.js';

describe('operator listener warnings at start', () => {
  it('warns when the listener is not on loopback, and when nobody can log in', () => {
    expect(operatorListenerWarnings('127.0.0.1', 2, 'kits')).toEqual([]);
    expect(operatorListenerWarnings('::1', undefined, 'kits')).toEqual([]);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'coord.example.org']) {
      expect(operatorListenerWarnings(host, 1, 'kits')).toEqual([expect.stringContaining(`listens on ${host}, not on loopback`)]);
    }
    expect(operatorListenerWarnings('127.0.0.1', 0, 'kits')).toEqual(['no operator has a token, so nobody can use the dashboard or the API; add one with `cipher-nexus operator add --kit-dir kits --name NAME --role admin`']);
  });
});
