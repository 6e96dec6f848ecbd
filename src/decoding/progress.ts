/**
 * How a caller follows and stops long work: the same hooks from the decoder up through the pipeline,
 * the engine threads and the job runners (each layer passes on the ones it has).
 */
export interface ProgressHooks {
  /** Aborting stops the work at its next step. */
  signal?: AbortSignal;
  /** Image tokens drawn so far, of the total the request will draw. */
  onStep?: (done: number, total: number) => void;
}
