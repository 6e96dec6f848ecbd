/** How one attempt at posting a result ended. */
export type DeliveryResult =
  /** Posted (now, or found posted by an earlier attempt a dead process made). */
  | 'posted'
  /** Discord did not take it: it stays kept in the store, and the status says so. */
  | 'kept'
  /** Another attempt holds the claim on it (this process or another one). */
  | 'busy'
  /** Posted, but the store did not take the record's write (it stays drawn): a later attempt finds the post and records it. */
  | 'unrecorded'
  /** Not posted and never will be: its job is gone (forgotten or deleted), or neither Discord nor the store took it. */
  | 'gone';

/** The status's last words where a job's owner was forgotten while its result was being posted. */
export const FORGOTTEN_NOTE = 'Cancelled: you asked the bot to forget your data.';
