/** Unit tests run TypeScript through ts-jest; integration and system tests spawn the built CLI (dist/). */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { types: ['node', 'jest'] }, diagnostics: { warnOnly: false } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 60000,
  setupFilesAfterEnv: ['<rootDir>/test/helpers/retry.ts'],
  // Lifecycle tests start real processes and load generators; two cores cannot run many at once.
  maxWorkers: 2,
};
