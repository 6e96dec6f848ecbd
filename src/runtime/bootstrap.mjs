// Entry of an engine worker thread. Node does not apply the parent's `--import tsx` (or the tsx
// CLI's loader) to a worker's TypeScript, so this plain-JS file registers tsx in the worker first
// and then loads the real entry. Works under `node --import tsx`, `tsx`, and `node --test`.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./engine-thread-main.ts', import.meta.url).href);
