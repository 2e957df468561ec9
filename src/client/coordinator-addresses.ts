import { InvalidInputError } from '../core/errors.js';

/**
 * The WebSocket addresses of a coordinator, in the order a participant tries them: `given` (a
 * comma-separated list, e.g. an active coordinator and its standby), else the kit's address. Each
 * must be https:// (mutual TLS); `what` names the address in errors ("coordinator", "upstream").
 */
export function coordinatorAddresses(given: string | undefined, kitUrl: string, what: string): string[] {
  const list = (given ?? kitUrl).split(',').map((url) => url.trim());
  return list.map((url) => {
    if (!URL.canParse(url)) throw new InvalidInputError('CLIENT_URL_INVALID', `the ${what} URL '${url}' is not a URL; give one like https://coordinator.example:8443 (several: comma-separated)`);
    const base = new URL(url);
    if (base.protocol !== 'https:' && base.protocol !== 'wss:') throw new InvalidInputError('CLIENT_URL_INVALID', `the ${what} URL must be https:// (mutual TLS), got '${base.href}'`);
    return `wss://${base.host}/v1/ws`;
  });
}
