import { describe, expect, it } from 'vitest';
import { coordinatorAddresses } from './coordinator-addresses.js';

describe('coordinatorAddresses', () => {
  it("takes the given addresses in order, else the kit's, as WebSocket URLs", () => {
    expect(coordinatorAddresses(undefined, 'https://kit.example:8443', 'coordinator')).toEqual(['wss://kit.example:8443/v1/ws']);
    expect(coordinatorAddresses('https://a.example:1, wss://b.example:2', 'https://kit.example:8443', 'coordinator')).toEqual(['wss://a.example:1/v1/ws', 'wss://b.example:2/v1/ws']);
  });

  it('refuses the whole list when one address is not an https:// URL, naming it', () => {
    expect(() => coordinatorAddresses('https://a.example:1,not a url', 'https://kit.example', 'upstream')).toThrow(expect.objectContaining({ code: 'CLIENT_URL_INVALID', message: expect.stringContaining("upstream URL 'not a url'") }));
    expect(() => coordinatorAddresses('https://a.example:1,http://b.example:2', 'https://kit.example', 'coordinator')).toThrow(expect.objectContaining({ code: 'CLIENT_URL_INVALID', message: expect.stringContaining('https://') }));
  });
});
