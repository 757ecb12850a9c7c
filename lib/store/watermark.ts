import fs from 'node:fs';

/**
 * Restore detection. The database counts its write transactions
 * (`kubegate_meta.write_seq`, bumped in every commit of the writer) and the
 * writer records the count, after each commit, in a small file OUTSIDE the
 * database: the watermark. A database restored from an older copy counts
 * fewer writes than the watermark remembers, so at open it is recognized
 * and nothing issued before the restore keeps working (see sqlite.ts).
 *
 * The watermark is written after COMMIT and never fsynced: it may lag the
 * database (a crash between the two; harmless, a lagging watermark only
 * detects less) but with `synchronous: full` it is never ahead of what the
 * database durably holds, so a crash is not mistaken for a restore. With
 * `synchronous: normal` a power loss that drops the last commits IS treated
 * as a restore, rightly: the clients hold tokens the database forgot.
 */

export type WatermarkFile =
  | { state: 'missing' }
  | { state: 'unreadable'; detail: string }
  | { state: 'present'; instanceId: string; seq: number };

/** Parses the file's text (a JSON record padded with spaces: see write-engine.ts). */
export function parseWatermark(text: string): WatermarkFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { state: 'unreadable', detail: 'not a watermark record' };
  }
  const r = value as { kubegate_watermark?: unknown; instance_id?: unknown; write_seq?: unknown } | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    r.kubegate_watermark !== 1 ||
    typeof r.instance_id !== 'string' ||
    typeof r.write_seq !== 'number' ||
    !Number.isSafeInteger(r.write_seq) ||
    r.write_seq < 0
  ) {
    return { state: 'unreadable', detail: 'not a watermark record' };
  }
  return { state: 'present', instanceId: r.instance_id, seq: r.write_seq };
}

/** Reads the watermark file. A file that exists but cannot be read is an error (permissions): nothing is guessed. */
export function readWatermark(file: string): WatermarkFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    throw new Error(`cannot read the restore watermark file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseWatermark(text);
}

/** What the database itself says, read inside the open's write transaction. */
export interface DatabaseMarks {
  /** Absent in a database last written by a version without restore detection. */
  instanceId: string | undefined;
  seq: number | undefined;
  /** Any sign-in, credential or signing key: something a restore could bring back. */
  holdsData: boolean;
}

export type RestoreReason = 'behind_watermark' | 'other_database' | 'watermark_missing' | 'watermark_unreadable';

export type RestoreVerdict = { restored: false; seq: number } | { restored: true; reason: RestoreReason; seq: number };

/**
 * Is this database a restore? `seq` is the write count the database must
 * carry from now on: past both marks, so the next comparison holds.
 *
 * - behind the watermark: an older copy of this database;
 * - another instance id than the watermark's: another database put in its place;
 * - watermark missing while the database has counted writes, or unreadable:
 *   the database was moved or restored without it. Safe side: a restore.
 * An empty database is never a restore (nothing to bring back), and one
 * written only by a version without the count starts counting now.
 */
export function judgeRestore(db: DatabaseMarks, file: WatermarkFile): RestoreVerdict {
  const dbSeq = db.seq ?? 0;
  const fileSeq = file.state === 'present' ? file.seq : 0;
  const restored = (reason: RestoreReason): RestoreVerdict => ({ restored: true, reason, seq: Math.max(dbSeq, fileSeq) + 1 });
  const fine: RestoreVerdict = { restored: false, seq: Math.max(dbSeq, fileSeq) };
  if (!db.holdsData) return fine;
  switch (file.state) {
    case 'missing':
      return db.seq === undefined ? fine : restored('watermark_missing');
    case 'unreadable':
      return restored('watermark_unreadable');
    case 'present':
      if (dbSeq < file.seq) return restored('behind_watermark');
      if (db.instanceId !== undefined && db.instanceId !== file.instanceId) return restored('other_database');
      return fine;
  }
}

/** The default place of the watermark: beside the database file. */
export function defaultWatermarkFile(databaseFile: string): string {
  return `${databaseFile}.watermark`;
}
