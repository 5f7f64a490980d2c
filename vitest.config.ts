import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

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
    hookTimeout: 120_000,
    // Loopback servers and the in-process chain are started per file; two cores.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        extends: true,
        test: { name: "lpsigner", include: ["src/**/*.test.ts", "test/**/*.test.ts"], exclude: ["test/clients.test.ts"], sequence: { groupOrder: 0 } },
      },
      // The Go and Python client tests compile, install and start their own signers: they run
      // after the rest, so their CPU use cannot slow the timing-sensitive tests.
      { extends: true, test: { name: "clients", include: ["test/clients.test.ts"], sequence: { groupOrder: 1 } } },
    ],
  },
});
