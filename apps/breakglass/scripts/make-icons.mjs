// Draws the breakglass app icons (PNG, no dependencies): an amber disc with a dark crack on the
// console's dark ground, full-bleed so the same file works as a maskable icon.
// Run: node apps/breakglass/scripts/make-icons.mjs  (writes web/public/icons/*.png)
import { writeFileSync } from 'node:fs';
import { deflateSync, crc32 } from 'node:zlib';

const BG = [0x14, 0x11, 0x0f];
const AMBER = [0xff, 0xb0, 0x20];
const CRACK = [0x14, 0x11, 0x0f];

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

function segmentDistance(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

// The crack: a zigzag from top-left to bottom-right of the disc, in unit coordinates.
const CRACK_POINTS = [
  [0.3, 0.26],
  [0.46, 0.44],
  [0.4, 0.52],
  [0.58, 0.64],
  [0.52, 0.7],
  [0.72, 0.8],
];

function draw(size) {
  const rows = [];
  const samples = 4;
  for (let y = 0; y < size; y += 1) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x += 1) {
      let r = 0,
        g = 0,
        b = 0;
      for (let sy = 0; sy < samples; sy += 1) {
        for (let sx = 0; sx < samples; sx += 1) {
          const u = (x + (sx + 0.5) / samples) / size;
          const v = (y + (sy + 0.5) / samples) / size;
          let color = BG;
          if (Math.hypot(u - 0.5, v - 0.5) < 0.34) color = AMBER;
          let d = Infinity;
          for (let i = 0; i < CRACK_POINTS.length - 1; i += 1) {
            const [ax, ay] = CRACK_POINTS[i];
            const [bx, by] = CRACK_POINTS[i + 1];
            d = Math.min(d, segmentDistance(u, v, ax, ay, bx, by));
          }
          if (d < 0.028 && Math.hypot(u - 0.5, v - 0.5) < 0.36) color = CRACK;
          r += color[0];
          g += color[1];
          b += color[2];
        }
      }
      const n = samples * samples;
      row[1 + x * 3] = Math.round(r / n);
      row[2 + x * 3] = Math.round(g / n);
      row[3 + x * 3] = Math.round(b / n);
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const out = new URL('../web/public/icons/', import.meta.url);
for (const [name, size] of [
  ['icon-192.png', 192],
  ['icon-512.png', 512],
  ['apple-touch-icon.png', 180],
  ['favicon-32.png', 32],
]) {
  writeFileSync(new URL(name, out), draw(size));
  process.stderr.write(`wrote ${name} (${size}x${size})\n`);
}
