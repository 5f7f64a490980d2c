import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { artifactsPath, compileContracts, type ContractArtifacts } from "../../scripts/compile-contracts.js";

test("committed artifacts are what contracts/*.sol compile to", () => {
  const committed = JSON.parse(readFileSync(artifactsPath, "utf8")) as ContractArtifacts;
  const fresh = compileContracts();
  expect(fresh.solcVersion).toBe(committed.solcVersion);
  for (const [name, artifact] of Object.entries(fresh.contracts)) {
    expect(committed.contracts[name]?.bytecode, `${name} bytecode (run: npx tsx scripts/compile-contracts.ts)`).toBe(artifact.bytecode);
    expect(committed.contracts[name]?.abi, `${name} ABI`).toEqual(artifact.abi);
  }
  expect(Object.keys(committed.contracts).sort()).toEqual(Object.keys(fresh.contracts).sort());
});
