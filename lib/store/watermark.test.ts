import { describe, expect, it } from 'vitest';
import { judgeRestore, parseWatermark, type DatabaseMarks, type WatermarkFile } from './watermark';
import { WATERMARK_RECORD_BYTES } from './write-engine';

const present = (seq: number, instanceId = 'inst-a'): WatermarkFile => ({ state: 'present', instanceId, seq });
const db = (seq: number | undefined, over: Partial<DatabaseMarks> = {}): DatabaseMarks => ({ instanceId: 'inst-a', seq, holdsData: true, ...over });

describe('judgeRestore', () => {
  it.each<[string, DatabaseMarks, WatermarkFile, ReturnType<typeof judgeRestore>]>([
    ['the database as the watermark left it', db(40), present(40), { restored: false, seq: 40 }],
    ['a database ahead of the watermark (a crash between commit and watermark write)', db(41), present(40), { restored: false, seq: 41 }],
    ['an older copy of the database', db(30), present(40), { restored: true, reason: 'behind_watermark', seq: 41 }],
    ['another database in its place', db(50, { instanceId: 'inst-b' }), present(40), { restored: true, reason: 'other_database', seq: 51 }],
    ['a copy from before restore detection, where a watermark exists', db(undefined, { instanceId: undefined }), present(40), { restored: true, reason: 'behind_watermark', seq: 41 }],
    ['a database moved without its watermark', db(40), { state: 'missing' }, { restored: true, reason: 'watermark_missing', seq: 41 }],
    ['an unreadable watermark', db(40), { state: 'unreadable', detail: 'x' }, { restored: true, reason: 'watermark_unreadable', seq: 41 }],
    ['the first start after upgrading (no count, no watermark)', db(undefined, { instanceId: undefined }), { state: 'missing' }, { restored: false, seq: 0 }],
    ['an empty database (first start), whatever the watermark says', db(undefined, { holdsData: false }), present(40, 'old'), { restored: false, seq: 40 }],
    ['an empty database and no watermark', db(undefined, { holdsData: false }), { state: 'missing' }, { restored: false, seq: 0 }],
  ])('%s', (_, marks, file, verdict) => {
    expect(judgeRestore(marks, file)).toEqual(verdict);
  });
});

describe('parseWatermark', () => {
  it('reads the padded record the writer writes, and refuses anything else', () => {
    const record = JSON.stringify({ kubegate_watermark: 1, instance_id: 'abc', write_seq: 12 }).padEnd(WATERMARK_RECORD_BYTES - 1) + '\n';
    expect(parseWatermark(record)).toEqual({ state: 'present', instanceId: 'abc', seq: 12 });
    for (const bad of ['', '{"kubegate_watermark":1,"instance_id":"abc","write_seq":', '{"instance_id":"abc","write_seq":1}', '{"kubegate_watermark":1,"instance_id":"a","write_seq":-1}', 'null']) {
      expect(parseWatermark(bad).state, bad).toBe('unreadable');
    }
  });
});
