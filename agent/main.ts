#!/usr/bin/env node
import { ConfigError, formatHelp, parseConfig } from '../common/config/options.js';
import { errorMessage } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { Agent } from './agent.js';
import { AGENT_OPTIONS, checkAgentConfig } from './config.js';
import { NetnsSource } from './discovery/netns-source.js';

const ENV_PREFIX = 'NETSONAR_AGENT_';
const USAGE = 'Usage: netsonar-agent --node-name NODE --pod-ip IP --collector HOST:PORT [options]';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${formatHelp(USAGE, AGENT_OPTIONS, ENV_PREFIX)}\n`);
    return 0;
  }
  let config: ReturnType<typeof parseConfig<typeof AGENT_OPTIONS>>;
  try {
    config = parseConfig(AGENT_OPTIONS, { argv, env: process.env, envPrefix: ENV_PREFIX });
    const problems = checkAgentConfig(config);
    if (problems.length > 0) throw new ConfigError(problems);
  } catch (err) {
    process.stderr.write(`netsonar-agent: ${errorMessage(err)}\n`);
    return 2;
  }
  const log = createLogger('netsonar-agent', config.logLevel);
  const source = new NetnsSource(
    config.inventory,
    config.nodeName,
    config.discoveryInterval,
    log.child({ component: 'discovery' }),
  );
  const agent = new Agent({ config, log, source });
  try {
    await agent.start();
  } catch (err) {
    log.fatal({ err: errorMessage(err) }, 'agent failed to start');
    await agent.stop();
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  // A hard deadline: a wedged shutdown must not keep a terminating pod around.
  const deadline = setTimeout(() => {
    log.error('shutdown took too long; exiting');
    process.exit(1);
  }, 8_000);
  deadline.unref();
  await agent.stop();
  return 0;
}

process.exitCode = await main();
