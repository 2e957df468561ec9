import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { RpcError, type Eip1193Provider } from './edr-provider.js';

const requestSchema = z.object({
  jsonrpc: z.literal('2.0'),
  id: z.union([z.string(), z.number(), z.null()]),
  method: z.string().min(1),
  params: z.union([z.array(z.unknown()), z.record(z.unknown())]).optional(),
});

/** A running JSON-RPC endpoint; `url` is what `openChain({ rpcUrl })` takes. */
export interface RpcServer {
  url: string;
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;

async function answer(provider: Eip1193Provider, body: unknown): Promise<unknown> {
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) return { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'invalid JSON-RPC request' } };
  const { id, method, params } = parsed.data;
  try {
    return { jsonrpc: '2.0', id, result: (await provider.request({ method, params })) ?? null };
  } catch (error) {
    const rpc = error instanceof RpcError ? error : new RpcError(-32603, error instanceof Error ? error.message : String(error));
    return { jsonrpc: '2.0', id, error: { code: rpc.code, message: rpc.message, data: rpc.data } };
  }
}

/**
 * Serves an EIP-1193 provider (the in-process EVM) as HTTP JSON-RPC on the loopback interface,
 * so other processes (a CLI, a dashboard, a wallet) can share one development chain.
 */
export async function serveJsonRpc(provider: Eip1193Provider, options: { port?: number; host?: string } = {}): Promise<RpcServer> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', async () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } }));
        return;
      }
      const reply = Array.isArray(body) ? await Promise.all(body.map((b) => answer(provider, b))) : await answer(provider, body);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
