import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Reads a whole request body; a client that gives up before sending it is not recorded as a request. */
export function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (data: Buffer) => chunks.push(data));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
    request.on('close', () => reject(new Error('client closed the connection before the end of the body')));
  });
}

/** Closes a test server at once, ending streams it holds open (SSE, NDJSON, hangs). */
export async function closeServer(server: Server, openResponses: Iterable<ServerResponse>): Promise<void> {
  for (const response of openResponses) response.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
