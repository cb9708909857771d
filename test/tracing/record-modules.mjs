// Preloaded into the real binaries by test/privileged/tracing.priv.test.ts (NODE_OPTIONS=--import):
// at exit, writes which CommonJS modules the process loaded (the OpenTelemetry SDK, exporters and
// instrumentations are CommonJS), so the test can prove that with tracing off none was loaded.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';

const dir = process.env.NETSONAR_TEST_MODULES_DIR;
const main = process.argv[1] ?? '';
if (dir !== undefined && main.endsWith('main.js')) {
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    const name = `${basename(dirname(main))}-${process.pid}.json`;
    writeFileSync(join(dir, name), JSON.stringify({ main, modules: Object.keys(require.cache) }));
  });
}
