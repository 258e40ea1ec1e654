// A local npm registry for pack-check: it serves the packed tarballs as if they were published.
// npm is pointed at it for the @fish-sre scope only (`@fish-sre:registry=<url>`), so `npm install
// @fish-sre/fish` in a fresh project (or `npm i -g`) resolves our packages from the tarballs with
// their real version ranges, and third-party dependencies from the usual registry and npm's cache.
//
// Protocol (https://github.com/npm/registry/blob/main/docs/REGISTRY-API.md): GET /<name> (a scoped
// name as @scope%2fname) answers the packument: `versions[v].dist.{tarball, integrity, shasum}` and
// `dist-tags.latest`; the tarball URL is fetched as is.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename } from 'node:path';

/**
 * @param {{ tarballs: Array<{ path: string, manifest: Record<string, unknown> }> }} options
 * @returns {Promise<{ url: string, publish(tarball: { path: string, manifest: Record<string, unknown> }): void, close(): Promise<void> }>}
 */
export async function startLocalRegistry({ tarballs }) {
  const local = new Map();
  /** Makes a tarball installable by name, as `npm publish` would. */
  const publish = ({ path, manifest }) => {
    const data = readFileSync(path);
    const entry = local.get(manifest.name) ?? { manifests: [], files: new Map() };
    entry.manifests.push({ manifest, file: basename(path), integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`, shasum: createHash('sha1').update(data).digest('hex') });
    entry.files.set(basename(path), data);
    local.set(manifest.name, entry);
  };
  for (const tarball of tarballs) publish(tarball);
  let base = '';
  const server = createServer(async (request, response) => {
    try {
      const path = decodeURIComponent((request.url ?? '/').split('?')[0]);
      const tarball = /^\/-\/files\/(.+)$/.exec(path);
      if (tarball) {
        const data = [...local.values()].map((entry) => entry.files.get(tarball[1])).find(Boolean);
        if (!data) return void response.writeHead(404).end();
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
        return void response.end(data);
      }
      const name = path.slice(1);
      const entry = local.get(name);
      if (entry) {
        const versions = Object.fromEntries(
          entry.manifests.map(({ manifest, file, integrity, shasum }) => [
            manifest.version,
            { ...manifest, _id: `${name}@${manifest.version}`, dist: { tarball: `${base}/-/files/${file}`, integrity, shasum } },
          ]),
        );
        const latest = entry.manifests.at(-1).manifest.version;
        const body = JSON.stringify({ _id: name, name, 'dist-tags': { latest }, versions, time: {} });
        response.writeHead(200, { 'content-type': 'application/json' });
        return void response.end(body);
      }
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not found' }));
    } catch (error) {
      response.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error) }));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  return {
    url: `${base}/`,
    publish,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
