import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';

const exec = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;

/**
 * Generated TypeScript is committed. This regenerates it into a scratch directory with the pinned
 * protoc-gen-es and fails on any difference: edit the .proto, run `npm run generate`, commit both.
 * buf lint (STANDARD) must be clean too.
 */
describe('proto', () => {
  it('passes buf lint', async () => {
    await expect(exec(join(root, 'node_modules/.bin/buf'), ['lint'], { cwd: root })).resolves.toBeDefined();
  });

  it('has committed generated code identical to a fresh `buf generate`', async () => {
    const out = await mkdtemp(join(tmpdir(), 'netsonar-gen-'));
    try {
      const template = join(out, 'buf.gen.yaml');
      await writeFile(
        template,
        `version: v2\nplugins:\n  - local: ${join(root, 'node_modules/.bin/protoc-gen-es')}\n    out: ${out}\n    opt: [target=ts, import_extension=js]\n`,
      );
      await exec(join(root, 'node_modules/.bin/buf'), ['generate', '--template', template], { cwd: root });
      const freshDir = join(out, 'netsonar/v1');
      const committedDir = join(root, 'common/gen/netsonar/v1');
      const freshFiles = (await readdir(freshDir)).sort();
      expect((await readdir(committedDir)).sort()).toEqual(freshFiles);
      for (const f of freshFiles) {
        const fresh = await readFile(join(freshDir, f), 'utf8');
        expect({ file: f, same: (await readFile(join(committedDir, f), 'utf8')) === fresh }).toEqual({
          file: f,
          same: true,
        });
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
