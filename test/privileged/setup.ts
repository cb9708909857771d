import { jest } from '@jest/globals';

// Privileged tests build labs and wait for hundreds of real probes; jest ignores `testTimeout`
// in a project block, so it is set here for every privileged file.
jest.setTimeout(180_000);
