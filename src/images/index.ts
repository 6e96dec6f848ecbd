export { ImageInputError, type ImageErrorCode } from './errors.ts';
export { DEFAULT_IMAGE_LIMITS, checkImageCount, resolveLimits, type ImageLimits } from './limits.ts';
export { ACCEPTED_FORMATS, sniffFormat, type ImageFormat } from './sniff.ts';
export {
  loadImage,
  loadImages,
  readHeader,
  type DecodedImage,
  type ImageHeader,
  type LoadOptions,
  type RgbImage,
} from './load.ts';
export {
  parsePreprocessorConfig,
  resizedSize,
  stackPixelValues,
  toPixelValues,
  type PreprocessorConfig,
} from './preprocess.ts';
export {
  decodedToImage,
  encodeImage,
  reencodeToFit,
  type EncodeOptions,
  type FittedImage,
  type OutputFormat,
} from './encode.ts';
