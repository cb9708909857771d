import { describe, expect, it } from '@jest/globals';
import { ResultBuffer } from './result-buffer.js';

const result = { podNamespace: 'default', podName: 'a', targetNode: 'node-2', sent: 1, received: 1 };

describe('ResultBuffer', () => {
  it('numbers batches from 1 and hands them out in order', () => {
    const b = new ResultBuffer(10, () => 1000);
    b.append([result], []);
    b.append([result], []);
    expect(b.next(0n)?.seq).toBe(1n);
    expect(b.next(1n)?.seq).toBe(2n);
    expect(b.next(2n)).toBeUndefined();
    expect(b.next(0n)?.createdUnixMs).toBe(1000n);
  });

  it('keeps batches until acknowledged, so a reconnect resends them', () => {
    const b = new ResultBuffer(10);
    for (let i = 0; i < 5; i++) b.append([result], []);
    b.ack(3n);
    expect(b.size).toBe(2);
    expect(b.next(0n)?.seq).toBe(4n); // after a reconnect the client starts from 0 again
    b.ack(99n);
    expect(b.size).toBe(0);
    expect(b.highestSeq).toBe(5n);
  });

  it('drops the oldest when full and reports every drop exactly once, even drops of reporting batches', () => {
    const b = new ResultBuffer(2);
    for (let i = 0; i < 3; i++) b.append([result], []); // 3rd append drops batch 1
    expect(b.next(0n)?.seq).toBe(2n);
    expect(b.append([result], []).droppedBatches).toBe(1n); // batch 4 reports batch 1; drops 2
    for (let i = 0; i < 3; i++) b.append([result], []); // 5, 6, 7: drops 3, 4 (which carried 1), 5
    expect(b.droppedTotal).toBe(5);
    // Deliver what survived, then one more batch: together they must report all five drops.
    const delivered = [b.next(0n), b.next(6n)];
    expect(delivered.map((x) => x?.seq)).toEqual([6n, 7n]);
    b.ack(7n);
    const last = b.append([result], []);
    const reported = [...delivered, last].reduce((sum, x) => sum + (x?.droppedBatches ?? 0n), 0n);
    expect(reported).toBe(5n);
  });
});
