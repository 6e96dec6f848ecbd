import { createRequire } from 'node:module';

interface SessionHandler {
  run(...args: unknown[]): Promise<unknown>;
}
interface Backend {
  createInferenceSessionHandler(...args: unknown[]): Promise<SessionHandler>;
}

/**
 * Counts, in `counter[0]`, the ONNX Runtime runs this thread is inside right now, so the thread
 * that supervises it can tell a worker stuck in JavaScript (safe to terminate) from one inside a
 * native run (terminating it then throws a C++ exception nobody catches, and the process aborts).
 * Call it before any session is created.
 *
 * onnxruntime-node's session handler runs the native session synchronously from a setImmediate
 * queued inside run(). An immediate queued just before it raises the count, and the run's settling
 * (the first microtask after the native call) lowers it: nothing else can run between the two, so
 * the count is exact. When the package does not have that shape (another release) the counter
 * stays at -1, "unknown", which the supervisor treats as "maybe inside a run"; returns false then.
 */
export function countNativeRuns(counter: Int32Array): boolean {
  Atomics.store(counter, 0, -1);
  let backend: Backend | undefined;
  try {
    const require = createRequire(import.meta.url);
    backend = (require('onnxruntime-node/dist/backend.js') as { onnxruntimeBackend?: Backend }).onnxruntimeBackend;
  } catch {
    return false;
  }
  const create = backend?.createInferenceSessionHandler;
  if (!backend || typeof create !== 'function') return false;
  const counted = new WeakSet<object>();
  backend.createInferenceSessionHandler = async function countingHandlers(this: Backend, ...args: unknown[]): Promise<SessionHandler> {
    const handler = await create.apply(this, args);
    const proto = Object.getPrototypeOf(handler) as SessionHandler;
    const run = proto.run;
    if (!counted.has(proto) && typeof run === 'function') {
      counted.add(proto);
      proto.run = function countedRun(this: SessionHandler, ...runArgs: unknown[]): Promise<unknown> {
        setImmediate(() => Atomics.add(counter, 0, 1));
        const result = run.apply(this, runArgs);
        const done = () => void Atomics.sub(counter, 0, 1);
        result.then(done, done);
        return result;
      };
    }
    return handler;
  };
  Atomics.store(counter, 0, 0);
  return true;
}
