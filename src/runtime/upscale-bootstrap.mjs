// Entry of the upscale worker thread (see bootstrap.mjs for why tsx is registered here first).
import { register } from 'tsx/esm/api';

register();
await import(new URL('./upscale-thread-main.ts', import.meta.url).href);
