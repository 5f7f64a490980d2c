/**
 * Compiles contracts/*.sol with solc-js into src/dev-chain/artifacts/contracts.json (ABI + bytecode).
 * The artifacts are committed; test/chain/contracts-artifacts.test.ts recompiles and compares, so
 * the sources and the artifacts cannot drift. Run: npx tsx scripts/compile-contracts.ts
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

interface Solc {
  version(): string;
  compile(input: string): string;
}

export interface ContractArtifact {
  abi: unknown[];
  /** 0x-prefixed creation bytecode */
  bytecode: string;
}

export interface ContractArtifacts {
  solcVersion: string;
  contracts: Record<string, ContractArtifact>;
}

/** Contracts that are deployed; the others (interfaces) are left out of the artifacts. */
export const deployedContracts = ["Controller", "RoundsManager", "BondingManager", "ServiceRegistry", "TicketBroker", "DevPriceFeed"] as const;

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
export const contractsDir = join(root, "contracts");
export const artifactsPath = join(root, "src", "dev-chain", "artifacts", "contracts.json");

export function compileContracts(): ContractArtifacts {
  const solc = createRequire(import.meta.url)("solc") as Solc;
  const sources: Record<string, { content: string }> = {};
  for (const file of readdirSync(contractsDir).filter((f) => f.endsWith(".sol")).sort()) {
    sources[file] = { content: readFileSync(join(contractsDir, file), "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) {
    throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join("\n")}`);
  }
  const contracts: Record<string, ContractArtifact> = {};
  for (const name of deployedContracts) {
    const compiled = output.contracts?.[`${name}.sol`]?.[name];
    if (!compiled) throw new Error(`solc produced no output for ${name}`);
    contracts[name] = { abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` };
  }
  return { solcVersion: solc.version(), contracts };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const artifacts = compileContracts();
  writeFileSync(artifactsPath, `${JSON.stringify(artifacts, null, 2)}\n`);
  console.log(`wrote ${artifactsPath} (solc ${artifacts.solcVersion})`);
}
