import { readFile } from 'node:fs/promises';
import { errorMessage } from '../../common/errors.js';
import { parseInventory } from '../../common/inventory.js';
import type { Logger } from '../../common/log.js';
import type { DiscoveredPod, PodSource } from './pod-source.js';

/**
 * Pods from an inventory file (common/inventory.ts): what the lab writes for each node, or what
 * an operator writes on a plain Linux host whose workloads live in named network namespaces.
 * Re-read every `pollMs`; a changed file is a new snapshot. A broken file keeps the last good
 * snapshot and is reported once (until it changes again): a typo must not stop all probing.
 */
export class NetnsSource implements PodSource {
  readonly name = 'netns';
  private timer: NodeJS.Timeout | undefined;
  private lastText: string | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly file: string,
    private readonly node: string,
    private readonly pollMs: number,
    private readonly log: Logger,
  ) {}

  async start(onPods: (pods: readonly DiscoveredPod[]) => void): Promise<void> {
    await this.poll(onPods);
    this.timer = setInterval(() => void this.poll(onPods), this.pollMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async poll(onPods: (pods: readonly DiscoveredPod[]) => void): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      this.reportOnce(`cannot read inventory ${this.file}: ${errorMessage(err)}`);
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    try {
      const inv = parseInventory(text, this.file);
      if (inv.node !== this.node) {
        this.reportOnce(`inventory ${this.file} is for node "${inv.node}", this agent is "${this.node}"`);
        return;
      }
      this.lastError = undefined;
      onPods(inv.pods);
    } catch (err) {
      this.reportOnce(errorMessage(err));
    }
  }

  private reportOnce(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    this.log.error({ err: message }, 'pod discovery problem; keeping the last good pod set');
  }
}
