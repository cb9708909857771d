import { NetsonarError } from '../errors.js';

/**
 * One table of options per binary: name, environment variable, default, description, parser.
 * The table reads like documentation (`--help` prints it), is parsed once in `main` with every
 * error reported together, and the result is frozen and passed down. No other module reads
 * `process.env`.
 */
export interface Option<T> {
  readonly description: string;
  /** Undefined means the option is required. */
  readonly default: T | undefined;
  /** Turns the raw text into a value or throws an Error whose message says what is accepted. */
  readonly parse: (raw: string) => T;
  /** Shown in --help in place of the default (e.g. for secrets or computed defaults). */
  readonly defaultText?: string;
}

export type OptionTable = Record<string, Option<unknown>>;
export type ConfigOf<T extends OptionTable> = {
  readonly [K in keyof T]: T[K] extends Option<infer V> ? V : never;
};

/** `httpListen` → `--http-listen`. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** `httpListen` with prefix `NETSONAR_` → `NETSONAR_HTTP_LISTEN`. */
export function envName(prefix: string, key: string): string {
  return prefix + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

export class ConfigError extends NetsonarError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('NS_ERR_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** What a program prints for a bad configuration: one line per problem, each naming the program. */
export function configErrorText(program: string, err: unknown): string {
  const problems = err instanceof ConfigError ? err.problems : [errorMessageOf(err)];
  return problems.map((p) => `${program}: ${p}\n`).join('');
}

const errorMessageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export interface ParseInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Environment variable prefix, e.g. `NETSONAR_AGENT_`. */
  envPrefix: string;
}

/**
 * Precedence: flag, then environment, then default. Accepts `--flag value` and `--flag=value`.
 * Unknown flags, missing values, bad values and missing required options are all collected and
 * thrown together as one ConfigError.
 */
export function parseConfig<T extends OptionTable>(table: T, input: ParseInput): ConfigOf<T> {
  const problems: string[] = [];
  const byFlag = new Map<string, string>();
  for (const key of Object.keys(table)) byFlag.set(flagName(key), key);

  const fromArgv = new Map<string, string>();
  const args = input.argv;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument "${arg}"`);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const key = byFlag.get(flag);
    if (key === undefined) {
      problems.push(`unknown flag ${flag} (see --help)`);
      // Its value, if any, is part of the same mistake: do not report it again.
      if (eq < 0 && i + 1 < args.length && !(args[i + 1] ?? '').startsWith('--')) i++;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < args.length && !(args[i + 1] ?? '').startsWith('--')) value = args[++i];
    if (value === undefined) {
      problems.push(`${flag} needs a value`);
      continue;
    }
    fromArgv.set(key, value);
  }

  const out: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(table)) {
    const env = envName(input.envPrefix, key);
    const raw = fromArgv.get(key) ?? input.env[env];
    const source = fromArgv.has(key) ? flagName(key) : env;
    if (raw === undefined) {
      if (option.default === undefined) problems.push(`${flagName(key)} (or ${env}) is required`);
      else out[key] = option.default;
      continue;
    }
    try {
      out[key] = option.parse(raw);
    } catch (err) {
      problems.push(`${source}=${JSON.stringify(raw)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as ConfigOf<T>;
}

/** The --help text: one block per option with its flag, env variable, default and description. */
export function formatHelp(usage: string, table: OptionTable, envPrefix: string): string {
  const lines = [usage, '', 'Options (flag, environment variable, default):'];
  for (const [key, option] of Object.entries(table)) {
    const def =
      option.defaultText ?? (option.default === undefined ? 'required' : JSON.stringify(option.default));
    lines.push(`  ${flagName(key)}  ${envName(envPrefix, key)}  [${def}]`);
    lines.push(`      ${option.description}`);
  }
  lines.push('  --help', '      Print this text and exit.');
  return lines.join('\n');
}
