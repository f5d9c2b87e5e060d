import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{service,cli,smoke,infra}/**/*.test.ts'],
    env: {
      // The SDK's own switch for its Node 20 end-of-support notice; real warnings still print.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_DEV: 'false',
    },
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
