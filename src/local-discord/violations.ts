import type { FieldIssue, ViolationKind } from './errors.ts';

/** Something the bot did that real Discord would reject (or an emulator self-check failure). */
export interface Violation {
  kind: ViolationKind;
  /** e.g. "POST /channels/:channel_id/messages", or "gateway", "cdn". */
  route: string;
  status: number;
  code: number;
  message: string;
  issues: FieldIssue[];
  at: number;
}

export class ViolationLog {
  private readonly entries: Violation[] = [];

  record(violation: Violation): void {
    this.entries.push(violation);
  }

  list(): Violation[] {
    return [...this.entries];
  }

  clear(): void {
    this.entries.length = 0;
  }

  /** Throws with a readable summary when anything was recorded. */
  assertNone(): void {
    if (this.entries.length === 0) return;
    const lines = this.entries.map(describeViolation);
    throw new Error(`Discord emulator recorded ${lines.length} violation(s):\n${lines.join('\n')}`);
  }
}

export function describeViolation(v: Violation): string {
  const fields = v.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
  return `- [${v.kind}] ${v.route} -> ${v.status}/${v.code} ${v.message}${fields ? ` (${fields})` : ''}`;
}
