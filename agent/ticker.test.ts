import { afterEach, describe, expect, it } from '@jest/globals';
import { Ticker } from './ticker.js';

const tickers: Ticker[] = [];
const ticker = (ms: number) => {
  const t = new Ticker(ms);
  tickers.push(t);
  return t;
};
afterEach(() => {
  for (const t of tickers.splice(0)) t.stop();
});

describe('Ticker', () => {
  it('runs everything due within one tick together, at the tick', async () => {
    const t = ticker(50);
    const base = t.align(Date.now()) + 100;
    const ran: [string, number][] = [];
    await new Promise<void>((resolve) => {
      t.at(base - 49, () => ran.push(['a', t.tickTime()]));
      t.at(base - 1, () => ran.push(['b', t.tickTime()]));
      t.at(base, () => ran.push(['c', t.tickTime()]));
      t.at(base + 1, () => {
        ran.push(['d', t.tickTime()]);
        resolve();
      });
    });
    expect(ran).toEqual([
      ['a', base],
      ['b', base],
      ['c', base],
      ['d', base + 50],
    ]);
  });

  it('runs a tick’s entries one per event-loop turn, so I/O is read between them', async () => {
    const t = ticker(20);
    const order: string[] = [];
    const due = t.align(Date.now()) + 20;
    await new Promise<void>((resolve) => {
      t.at(due, () => {
        order.push('pod-1 sends');
        setImmediate(() => order.push('loop turn (replies read)'));
      });
      t.at(due, () => {
        order.push('pod-2 sends');
        resolve();
      });
    });
    expect(order).toEqual(['pod-1 sends', 'loop turn (replies read)', 'pod-2 sends']);
  });

  it('gives a schedule of absolute times that does not drift: until(tickTime() + n × gap)', async () => {
    const t = ticker(20);
    const seen: number[] = [];
    await new Promise<void>((resolve) => {
      t.at(Date.now(), async () => {
        const t0 = t.tickTime();
        for (let i = 1; i <= 4; i++) {
          // Work that takes time must not push the next gap back.
          const busy = Date.now() + 8;
          while (Date.now() < busy);
          await t.until(t0 + i * 20);
          seen.push(t.tickTime() - t0);
        }
        resolve();
      });
    });
    expect(seen).toEqual([20, 40, 60, 80]);
  });

  it('puts something due now, while a tick runs, into that same tick', async () => {
    const t = ticker(1000);
    const ran: number[] = [];
    await new Promise<void>((resolve) => {
      t.at(Date.now(), () => {
        const tick = t.tickTime();
        t.at(tick - 5_000, () => {
          ran.push(t.tickTime() - tick);
          resolve();
        });
      });
    });
    expect(ran).toEqual([0]);
  });

  it('cancels entries and rejects aborted waits', async () => {
    const t = ticker(10);
    let ran = false;
    const cancel = t.at(Date.now() + 10, () => {
      ran = true;
    });
    cancel();
    const ac = new AbortController();
    const waiting = t.until(Date.now() + 30, ac.signal);
    ac.abort();
    await expect(waiting).rejects.toThrow(/aborted/);
    await expect(t.until(0, ac.signal)).rejects.toThrow(/aborted/);
    await new Promise((r) => setTimeout(r, 40));
    expect(ran).toBe(false);
  });

  it('runs nothing once stopped, and rejects a bad tick', async () => {
    const t = ticker(10);
    let ran = 0;
    t.at(Date.now(), () => ran++);
    t.stop();
    t.at(Date.now(), () => ran++);
    await new Promise((r) => setTimeout(r, 30));
    expect(ran).toBe(0);
    expect(() => new Ticker(0)).toThrow(/tickMs/);
    expect(() => new Ticker(2.5)).toThrow(/tickMs/);
  });
});
