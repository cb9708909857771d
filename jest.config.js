// Jest runs in ESM mode (client-node and friends are ESM-only); @swc/jest strips types, tsc
// type-checks separately (`npm run typecheck`). Two projects with an explicit gate:
//   unit        — in process, no privileges, fixtures; co-located `*.test.ts`.
//   privileged  — real network namespaces, nftables and processes; `test/privileged/*.priv.test.ts`.
//                 Needs root and the Debian tools (scripts/install-deps.sh); runs one file at a time
//                 because the lab is a machine-wide resource.
const swc = [
  '@swc/jest',
  { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/dist/', '\\.priv\\.test\\.ts$'],
    },
    {
      ...common,
      displayName: 'privileged',
      testMatch: ['<rootDir>/test/privileged/**/*.priv.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/privileged/setup.ts'],
    },
  ],
};
