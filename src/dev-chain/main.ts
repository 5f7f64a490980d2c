/**
 * npm run dev-chain -- [-port 8545] [-fund 0xSignerAddress ...]
 * Starts only the development chain on loopback and keeps it up until SIGINT/SIGTERM.
 */
import { isAddress } from "ethers";
import { startDevChain } from "./dev-chain.js";

interface DevChainFlags {
  port: number;
  fund: string[];
}

function parseFlags(argv: string[]): DevChainFlags {
  const flags: DevChainFlags = { port: 8545, fund: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--?([a-zA-Z]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    const name = match[1]!;
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new Error(`flag -${name} needs a value`);
    if (name === "port") {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`-port: invalid port ${JSON.stringify(value)}`);
      flags.port = port;
    } else if (name === "fund") {
      if (!isAddress(value)) throw new Error(`-fund: not an address: ${JSON.stringify(value)}`);
      flags.fund.push(value);
    } else {
      throw new Error(`unknown flag -${name} (known: -port, -fund)`);
    }
  }
  return flags;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const chain = await startDevChain({ port: flags.port });
  for (const address of flags.fund) await chain.fundSender({ address });

  const lines = [
    "==================== DEVELOPMENT CHAIN ====================",
    "Local test chain with publicly known keys. NOT a real network.",
    `url:              ${chain.url}`,
    `chain id:         ${chain.chainId}`,
    `controller:       ${chain.controllerAddress}`,
    ...Object.entries(chain.contracts)
      .filter(([name]) => name !== "Controller")
      .map(([name, address]) => `${`${name}:`.padEnd(18)}${address}`),
    `price feed:       ${chain.priceFeed.address} (ETH / USD, ${chain.priceFeed.decimals} decimals; -priceFeedAddr)`,
    ...flags.fund.map((address) => `funded:           ${address} (100 ETH, deposit 10 ETH, reserve 10 ETH)`),
    "test accounts (prefunded with 10000 ETH; TEST-ONLY keys, public, never use them elsewhere):",
    ...chain.accounts.map((a) => `  ${a.address}  ${a.privateKey}`),
    "============================================================",
  ];
  console.log(lines.join("\n"));

  const stop = (signal: string) => {
    console.log(`${signal}: stopping the development chain`);
    void chain.close().then(() => process.exit(0));
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

main().catch((err: unknown) => {
  console.error(`dev-chain: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
