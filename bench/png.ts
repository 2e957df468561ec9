import { crc32, deflateSync } from 'node:zlib';

/**
 * A greyscale PNG (W3C PNG 2nd ed.: signature, IHDR with colour type 0 and bit depth 8, one IDAT of
 * zlib-deflated scanlines each led by filter type 0, IEND; every chunk closed by its CRC-32). No PNG
 * library is installed, and this is all the leakage figures need.
 */
export function greyPng(pixels: Uint8Array, width: number, height: number): Uint8Array {
  if (pixels.length !== width * height) throw new RangeError(`greyPng: ${pixels.length} pixels are not ${width}x${height}`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = 0;
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length, 0);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0, 0);
  return Buffer.concat([length, body, crc]);
}

/**
 * A grid of square images in [0, 1] (rows of equal length), each scaled up `zoom` times by nearest
 * neighbour, with a `gap`-pixel mid-grey border, as greyscale pixels (white = 1, as the digits are drawn).
 */
export function imageGrid(rows: readonly (readonly Float32Array[])[], side: number, zoom: number, gap = 2): { pixels: Uint8Array; width: number; height: number } {
  const cell = side * zoom;
  const columns = Math.max(...rows.map((r) => r.length));
  const width = columns * (cell + gap) + gap;
  const height = rows.length * (cell + gap) + gap;
  const pixels = new Uint8Array(width * height).fill(128);
  rows.forEach((row, r) => {
    row.forEach((image, c) => {
      for (let y = 0; y < cell; y++) {
        for (let x = 0; x < cell; x++) {
          const v = image[Math.floor(y / zoom) * side + Math.floor(x / zoom)];
          pixels[(gap + r * (cell + gap) + y) * width + gap + c * (cell + gap) + x] = Math.round(255 * Math.min(1, Math.max(0, v)));
        }
      }
    });
  });
  return { pixels, width, height };
}
