import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** Tests that build and install (Go, Python, npm ci, tsc) or run a JVM broker under load before they run. */
const LATER = [
  "test/clients.test.ts",
  "test/artifact.test.ts",
  "test/client/typescript-package.test.ts",
  "test/kafka-delivery.test.ts",
  "test/kafka-e2e.test.ts",
];

export default defineConfig({
  // Tests import the client package by its public name, from source (test/client/package.test.ts checks the build).
  resolve: {
    alias: [
      { find: /^lpsigner\/client\/node$/, replacement: src("./src/client/node.ts") },
      { find: /^lpsigner\/client$/, replacement: src("./src/client/index.ts") },
    ],
  },
  test: {
    testTimeout: 60_000,
    // dist/ built once first: `npm start` tests run the compiled signer.
    globalSetup: ["test/support/build-once.ts"],
    hookTimeout: 120_000,
    // Loopback servers and the in-process chain are started per file; two cores.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        extends: true,
        test: { name: "lpsigner", include: ["src/**/*.test.ts", "test/**/*.test.ts"], exclude: LATER, sequence: { groupOrder: 0 } },
      },
      // These compile, install and start their own signers and tools: they run after the rest,
      // so their CPU use cannot slow the timing-sensitive tests.
      { extends: true, test: { name: "clients", include: LATER, sequence: { groupOrder: 1 } } },
    ],
  },
});
