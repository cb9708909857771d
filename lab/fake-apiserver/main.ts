#!/usr/bin/env node
import { readFile, stat } from 'node:fs/promises';
import { type ConfigOf, formatHelp, type Option, parseConfig } from '../../common/config/options.js';
import { type HostPort, parseDurationMs, parseHostPort, parseInteger } from '../../common/config/parsers.js';
import { errorMessage } from '../../common/errors.js';
import { readLabState } from '../state-store.js';
import { type AuthReviewConfig, parseReviewConfig } from './auth-reviews.js';
import { labObjects, syncStore } from './lab-objects.js';
import { FakeApiServer } from './server.js';
import { ObjectStore } from './store.js';

/**
 * The lab's fake Kubernetes API server as a process (lab/netsonar-runner.ts starts it): serves the
 * lab's pods and nodes from <state-dir>/state.json, re-read whenever it changes (so `lab pod
 * add|delete`, from the CLI or the API, become watch events). It exits by itself when the lab is
 * gone (state.json removed by `lab down`) or when the process that started it goes away (its IPC
 * channel closes), so it can never outlive the lab or a crashed runner.
 */
const opt = <T>(description: string, def: T | undefined, parse: (raw: string) => T): Option<T> => ({
  description,
  default: def,
  parse,
});

const OPTIONS = {
  stateDir: opt('The lab state dir (state.json).', undefined, (r) => {
    if (!r.startsWith('/')) throw new Error('expected an absolute path');
    return r;
  }),
  listen: {
    description: 'Address to listen on (the lab host address, reachable from every lab pod).',
    default: { host: '198.19.0.254', port: 6443 } as HostPort,
    defaultText: '198.19.0.254:6443',
    parse: (raw: string): HostPort => parseHostPort(raw),
  },
  tokenFile: opt('File holding the one bearer token accepted.', undefined, (r) => {
    if (!r.startsWith('/')) throw new Error('expected an absolute path');
    return r;
  }),
  reviewsFile: {
    description:
      'TokenReview and SubjectAccessReview answers (JSON: users by token, RBAC-like rules; see ' +
      'lab/fake-apiserver/auth-reviews.ts). Empty: those endpoints are not served.',
    default: '',
    defaultText: '(none)',
    parse: (r: string): string => {
      if (r !== '' && !r.startsWith('/')) throw new Error('expected an absolute path');
      return r;
    },
  },
  pollInterval: opt('How often state.json is checked for changes.', 200, (r) =>
    parseDurationMs(r, 20, 10_000),
  ),
  bookmarkInterval: opt('BOOKMARK event interval on watches that allow them.', 10_000, (r) =>
    parseDurationMs(r, 100, 600_000),
  ),
  watchTimeout: opt('Watch duration when the client sends no timeoutSeconds.', 300_000, (r) =>
    parseDurationMs(r, 1_000, 3_600_000),
  ),
  eventWindow: opt('Events kept for watches to resume from; older resourceVersions get 410.', 1000, (r) =>
    parseInteger(r, 1, 1_000_000),
  ),
} as const;

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} fake-apiserver: ${line}\n`);

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(
      `${formatHelp('Usage: fake-apiserver --state-dir D --token-file F', OPTIONS, 'NETSONAR_FAKE_APISERVER_')}\n`,
    );
    return 0;
  }
  let c: ConfigOf<typeof OPTIONS>;
  let token: string;
  let reviews: AuthReviewConfig | undefined;
  try {
    c = parseConfig(OPTIONS, { argv, env: {}, envPrefix: 'NETSONAR_FAKE_APISERVER_' });
    token = (await readFile(c.tokenFile, 'utf8')).trim();
    if (token.length < 16) throw new Error(`${c.tokenFile}: token too short`);
    if (c.reviewsFile !== '')
      reviews = parseReviewConfig(await readFile(c.reviewsFile, 'utf8'), c.reviewsFile);
  } catch (err) {
    process.stderr.write(`fake-apiserver: ${errorMessage(err)}\n`);
    return 2;
  }
  const store = new ObjectStore(c.eventWindow);
  const server = new FakeApiServer({
    tokens: [token],
    store,
    bookmarkIntervalMs: c.bookmarkInterval,
    defaultWatchTimeoutMs: c.watchTimeout,
    ...(reviews === undefined ? {} : { reviews }),
  });

  // Identity of the state.json read last: every save is a rename of a new file (new inode), so
  // this changes even for two saves within one mtime tick.
  let lastSeen = '';
  let missingSince: number | undefined;
  const poll = async (): Promise<'gone' | 'ok'> => {
    let seen: string;
    try {
      const st = await stat(`${c.stateDir}/state.json`);
      seen = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      missingSince ??= Date.now();
      return Date.now() - missingSince > 1_000 ? 'gone' : 'ok';
    }
    missingSince = undefined;
    if (seen === lastSeen) return 'ok';
    try {
      const state = await readLabState(c.stateDir);
      if (state === undefined) return 'ok';
      syncStore(store, labObjects(state));
      lastSeen = seen;
    } catch (err) {
      log(`cannot read the lab state (${errorMessage(err)}); keeping the last objects`);
    }
    return 'ok';
  };
  await poll();
  const { url } = await server.listen(c.listen.host, c.listen.port);
  log(`serving the lab at ${url} (resourceVersion ${store.resourceVersion})`);

  const reason = await new Promise<string>((resolve) => {
    const timer = setInterval(() => {
      void poll().then((r) => {
        if (r === 'gone') resolve('the lab is gone (no state.json)');
      });
    }, c.pollInterval);
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    // Started with an IPC channel: when the parent dies, the channel closes.
    if (process.connected) process.once('disconnect', () => resolve('parent went away'));
    process.once('beforeExit', () => clearInterval(timer));
  });
  log(`stopping: ${reason}`);
  await server.close();
  if (process.connected) process.disconnect();
  return 0;
}

process.exitCode = await main();
process.exit();
