import { describe, expect, it } from '@jest/globals';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { ExpositionRenderer, renderExposition } from './exposition.js';
import { CollectorMetrics } from './metrics.js';

/** A registry with every shape the renderer handles, and one it hands back to prom-client. */
function assorted(): Registry {
  const registry = new Registry();
  const c = new Counter({
    name: 'x_total',
    help: 'a "help"\\ with\nnewline',
    labelNames: ['a', 'b'],
    registers: [registry],
  });
  c.inc({ a: 'plain', b: 'q"uote\\back\nslash' }, 3);
  c.inc({ b: 'order', a: 'reversed' }, 0.5);
  new Counter({ name: 'empty_total', help: 'never incremented', labelNames: ['a'], registers: [registry] });
  new Counter({ name: 'unlabelled_total', help: 'no labels', registers: [registry] }).inc(7);
  const g = new Gauge({ name: 'g', help: 'gauge', labelNames: ['n'], registers: [registry] });
  g.set({ n: 'inf' }, Number.POSITIVE_INFINITY);
  g.set({ n: 'neg' }, Number.NEGATIVE_INFINITY);
  g.set({ n: 'nan' }, Number.NaN);
  g.set({ n: 'big' }, 1e21);
  g.set({ n: 'tiny' }, 5e-7);
  new Gauge({ name: 'g_unlabelled', help: 'g', registers: [registry] }).set(1);
  new Gauge({
    name: 'g_collect',
    help: 'g',
    registers: [registry],
    collect() {
      this.set(42);
    },
  });
  const h = new Histogram({
    name: 'h_seconds',
    help: 'h',
    labelNames: ['p'],
    buckets: [0.00005, 0.001, 1],
    registers: [registry],
  });
  h.observe({ p: 'x' }, 0.0004);
  h.observe({ p: 'x' }, 5);
  h.observe({ p: 'y' }, 0.00001);
  new Histogram({ name: 'h_unlabelled', help: 'h', buckets: [1], registers: [registry] }).observe(0.5);
  new Summary({ name: 's', help: 's', registers: [registry] }).observe(1);
  return registry;
}

describe('renderExposition', () => {
  it('renders exactly what prom-client renders', async () => {
    const registry = assorted();
    expect(await renderExposition(registry)).toBe(await registry.metrics());
  });

  it('renders the collector metrics, process metrics included, exactly as prom-client does', async () => {
    const m = new CollectorMetrics({ processMetrics: true });
    m.recordReachability({
      sourceNode: 'a',
      targetNode: 'b',
      protocol: 'udp',
      sent: 10,
      lost: 1,
      late: 0,
      rttMicros: [100, 200, 5000, 1, 2, 3, 4, 5, 6],
      pod: { namespace: 'default', name: 'web' },
    });
    m.recordProbeRun({
      node: 'a',
      probe: 'dns',
      durationSeconds: 0.1,
      schedulingLagSeconds: 0,
      failed: true,
    });
    // Process metrics read the clock and memory: render both back to back and compare their shape.
    const ours = (await renderExposition(m.registry)).split('\n');
    const theirs = (await m.registry.metrics()).split('\n');
    const shape = (lines: string[]) =>
      lines.map((l) => (l.startsWith('process_') || l.startsWith('nodejs_') ? l.replace(/ \S+$/, '') : l));
    expect(shape(ours)).toEqual(shape(theirs));
  });

  it('yields to the event loop between slices, and not inside one', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'many_total', help: 'many', labelNames: ['i'], registers: [registry] });
    for (let i = 0; i < 3000; i++) c.inc({ i: String(i) });
    let clock = 0;
    let yields = 0;
    // Every look at the clock advances it by 1 ms; with a 3 ms budget we yield every few checks.
    const text = await renderExposition(registry, {
      budgetMs: 3,
      now: () => clock++,
      yieldNow: async () => {
        yields++;
      },
    });
    expect(text).toBe(await registry.metrics());
    expect(yields).toBeGreaterThanOrEqual(3);
    expect(yields).toBeLessThan(20);
  });

  it('shares one render between concurrent scrapes', async () => {
    const registry = assorted();
    const renderer = new ExpositionRenderer(registry);
    const [a, b] = [renderer.render(), renderer.render()];
    expect(a).toBe(b);
    expect((await a).join('')).toBe(await registry.metrics());
    // A later scrape renders afresh.
    const c = renderer.render();
    expect(c).not.toBe(a);
    await c;
  });
});
