import { parentPort, workerData } from 'node:worker_threads';
import { encodeImage } from '../images/encode.ts';
import { loadImage } from '../images/load.ts';
import { Upscaler } from '../upscaling/upscaler.ts';
import { toWireError } from './wire-error.ts';
import type { FromUpscaleWorker, ToUpscaleWorker, UpscaleWorkerInit } from './upscale-protocol.ts';

/**
 * The upscale worker thread (started by UpscaleThread): one Upscaler whose session runs here, beside
 * the engine workers, so an upscale's long runs never hold up a generation step in an engine
 * worker's thread (they only share the cores). Requests run one at a time; 'cancel' stops one
 * between tiles.
 */

if (!parentPort) throw new Error('upscale-thread-main.ts must run in a worker thread (see UpscaleThread).');
const port = parentPort;
const init = workerData as UpscaleWorkerInit;
const post = (message: FromUpscaleWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

let upscaler: Upscaler;
try {
  upscaler = await Upscaler.load(init.dir, { threads: init.threads, device: init.device, memoryBudgetMb: init.memoryBudgetMb });
} catch (err) {
  post({ type: 'load_failed', error: toWireError(err) });
  process.exit(1);
}

const running = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();

async function serve(msg: Extract<ToUpscaleWorker, { op: 'upscale' }>, controller: AbortController): Promise<void> {
  try {
    controller.signal.throwIfAborted();
    // Pixel limit before decoding: the output is scale² times larger (2048 x 2048 in: 8192 x 8192 out at x4).
    const image = await loadImage(msg.image, { maxPixels: 2048 * 2048, name: 'the image to upscale' });
    const run = await upscaler.upscale(image, {
      signal: controller.signal,
      onTile: ({ tile, tiles }) => post({ type: 'tile', id: msg.id, done: tile, total: tiles }),
    });
    const encoded = await encodeImage(run.image.data, run.image.width, run.image.height, { format: 'png' });
    const data = new ArrayBuffer(encoded.byteLength);
    new Uint8Array(data).set(encoded);
    post({ type: 'result', id: msg.id, value: { data, width: run.image.width, height: run.image.height, tiles: run.tiles, ms: run.ms } }, [data]);
  } catch (err) {
    post({ type: 'error', id: msg.id, error: toWireError(err) });
  } finally {
    running.delete(msg.id);
  }
}

port.on('message', (msg: ToUpscaleWorker) => {
  switch (msg.op) {
    case 'upscale': {
      const controller = new AbortController();
      running.set(msg.id, controller);
      queue = queue.then(() => serve(msg, controller));
      break;
    }
    case 'cancel':
      running.get(msg.id)?.abort();
      break;
    case 'close':
      for (const c of running.values()) c.abort();
      void queue.finally(async () => {
        await upscaler.release().catch(() => {});
        process.exit(0);
      });
      break;
  }
});

post({ type: 'ready', scale: upscaler.scale });
