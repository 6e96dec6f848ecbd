/**
 * A job's drawn images kept in the store until they are posted (JobStore.keepResult; src/jobs/job-life.ts
 * writes them before the record says 'drawn', so a process killed after drawing loses nothing).
 */

/** A finished image Discord did not take: kept in the store until it is posted (JobStore.keepResult). */
export interface KeptResult {
  /** data: the encoded image, base64. */
  /** Each image as it is posted: already fitted to `sizeLimit` where it was made (quality: WebP's). */
  images: { data: string; format: string; quality?: number; width: number; height: number; seed: number; imageTokens: number[] }[];
  tokensMs: number;
  grounding: { text: string; cached: boolean; ms: number };
  trace: boolean;
  sizeLimit: number;
  /** A thread made for the result that is still empty: the result goes there when posted again. */
  threadId?: string;
}
