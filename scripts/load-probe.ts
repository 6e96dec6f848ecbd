import { Personalizer } from '../src/pipeline/personalizer.ts';

/**
 * One model load, for the benchmark's load-cost figure (run in a child process so that its peak
 * memory is its own): `tsx scripts/load-probe.ts BUNDLE CACHE_DIR|none rewrite|plain`. Prints one
 * JSON line: load milliseconds, peak RSS, whether the rewrite came from the cache.
 */
const [dir, cacheDir, mode] = process.argv.slice(2);
const t0 = performance.now();
const p = await Personalizer.load(dir, { graphCacheDir: cacheDir === 'none' ? null : cacheDir, rewriteLanguageModel: mode !== 'plain' });
const ms = performance.now() - t0;
const facts = { ms: Math.round(ms), peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), kvStrategy: p.model.kvStrategy };
await p.close();
console.log(JSON.stringify(facts));
