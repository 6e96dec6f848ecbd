/** Formats we can tell apart by their first bytes; only some of them are accepted. */
export type SniffedFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'avif' | 'heic' | 'tiff' | 'bmp' | 'svg';

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'avif';

export const ACCEPTED_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'gif', 'webp', 'avif'];

export function isAccepted(format: SniffedFormat | undefined): format is ImageFormat {
  return (ACCEPTED_FORMATS as readonly string[]).includes(format ?? '');
}

const ascii = (bytes: Uint8Array, start: number, end: number) =>
  String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.length)));

const startsWith = (bytes: Uint8Array, magic: number[], offset = 0) =>
  bytes.length >= offset + magic.length && magic.every((b, i) => bytes[offset + i] === b);

/** Identifies a file by its magic bytes, never by its name or declared content type. */
export function sniffFormat(bytes: Uint8Array): SniffedFormat | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  if (ascii(bytes, 4, 8) === 'ftyp') return sniffIsoBrand(bytes);
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (ascii(bytes, 0, 2) === 'BM' && startsWith(bytes, [0, 0, 0, 0], 6)) return 'bmp'; // reserved header bytes
  // Only to word the error well: an XML-ish text file that mentions <svg near the top.
  const head = ascii(bytes, 0, 1024).replace(/^\xef\xbb\xbf/, '').trimStart();
  if (head.startsWith('<') && /<svg[\s>]/i.test(head)) return 'svg';
  return undefined;
}

// HEIF-family files start with an ISO-BMFF `ftyp` box: size, 'ftyp', major brand, minor version, compatible brands.
function sniffIsoBrand(bytes: Uint8Array): SniffedFormat | undefined {
  const boxSize = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  const brands = [ascii(bytes, 8, 12)];
  for (let at = 16; at + 4 <= Math.min(boxSize, bytes.length, 256); at += 4) brands.push(ascii(bytes, at, at + 4));
  if (brands.some((b) => b === 'avif' || b === 'avis')) return 'avif';
  if (brands.some((b) => ['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'].includes(b))) return 'heic';
  return undefined;
}
