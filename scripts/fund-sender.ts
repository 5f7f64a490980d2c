/**
 * npm run fund: adds to the signer account's TicketBroker deposit and reserve. lpsigner itself
 * never sends a transaction, so this is the one step that spends the key's ETH. It reads the same
 * settings as the signer (the same names, and the same LP_<NAME> environment variables), resolves
 * TicketBroker through the Controller as the signer does, and calls
 * fundDepositAndReserve(deposit, reserve) with value = deposit + reserve.
 *
 *   npm run fund -- --network arbitrum-one-mainnet --ethAcctAddr 0x… \
 *     --deposit 0.1 --reserve 0.05 [--dry-run]
 *
 * Amounts are ETH (0.1), or wei with a "wei" suffix (100000000000000000wei). The password comes
 * from a file (--ethPassword or LP_ETHPASSWORD name the file), never from the command line, and
 * -ethUrl is best passed as LP_ETHURL (it may carry credentials; only its redacted form is printed).
 * --dry-run prints what would be sent and sends nothing.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Contract, FetchRequest, JsonRpcProvider, Network, Wallet, formatEther, getAddress, hexlify, id, parseEther, ZeroAddress } from "ethers";
import { networkControllers } from "../src/chain/chain-client.js";
import { parseEthEndpoint, scrubEthUrl } from "../src/chain/eth-url.js";
import { KeyConfigError, loadKeystoreKey } from "../src/keys/load-key.js";

const controllerAbi = ["function getContract(bytes32 _id) view returns (address)"];
const ticketBrokerAbi = [
  "function fundDepositAndReserve(uint256 _depositAmount, uint256 _reserveAmount) payable",
  "function getSenderInfo(address _sender) view returns (tuple(uint256 deposit, uint256 withdrawRound) sender, tuple(uint256 fundsRemaining, uint256 claimedInCurrentRound) reserve)",
];

/** A mistake in the arguments: one line, exit 2 (as the signer's configuration errors). */
class UsageError extends Error {}

/** "0.1" is ETH; "100wei" is wei. */
function parseAmount(text: string, name: string): bigint {
  const t = text.trim();
  try {
    const wei = /^\d+wei$/i.test(t) ? BigInt(t.slice(0, -3)) : /^\d+(\.\d+)?$/.test(t) ? parseEther(t) : undefined;
    if (wei !== undefined) return wei;
  } catch {
    // more than 18 decimals: reported below
  }
  throw new UsageError(`--${name}: give ETH (0.1) or wei (100000000000000000wei), got ${JSON.stringify(text)}`);
}

const eth = (wei: bigint) => `${formatEther(wei)} ETH`;

/** Kept for the error line: whatever ethers quotes of the URL is scrubbed out. */
let ethUrl = "";

const OPTIONS = {
  ethUrl: { type: "string" },
  network: { type: "string" },
  ethController: { type: "string" },
  ethKeystorePath: { type: "string" },
  ethAcctAddr: { type: "string" },
  ethPassword: { type: "string" },
  dataDir: { type: "string" },
  deposit: { type: "string", default: "0" },
  reserve: { type: "string", default: "0" },
  "dry-run": { type: "boolean", default: false },
  help: { type: "boolean", default: false },
} as const;

const USAGE = `Usage: npm run fund -- [--network NAME | --ethController 0x…] [--ethKeystorePath PATH | --dataDir DIR]
         [--ethAcctAddr 0x…] --ethPassword FILE --deposit ETH --reserve ETH [--dry-run]
Funds the key's TicketBroker deposit and reserve (fundDepositAndReserve). Amounts in ETH (0.1) or wei (100wei).
Each setting may come from the environment as the signer reads it (LP_ETHURL, LP_ETHPASSWORD, …); pass --ethUrl as LP_ETHURL.`;

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ options: OPTIONS });
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see --help)`);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }

  const setting = (name: keyof typeof values & string) => (values[name] as string | undefined) ?? process.env[`LP_${name.toUpperCase()}`] ?? "";

  ethUrl = setting("ethUrl");
  if (ethUrl === "") throw new UsageError("--ethUrl (or LP_ETHURL) is required");
  let endpoint;
  try {
    endpoint = parseEthEndpoint(ethUrl);
  } catch (err) {
    throw new UsageError(`--ethUrl: ${(err as Error).message}`);
  }
  const network = setting("network");
  const controllerText = setting("ethController") || (networkControllers as Record<string, string>)[network];
  if (!controllerText) throw new UsageError(`--ethController is required for network ${JSON.stringify(network)}`);
  let controllerAddress: string;
  try {
    controllerAddress = getAddress(controllerText);
  } catch {
    throw new UsageError(`--ethController: not an Ethereum address: ${JSON.stringify(controllerText)}`);
  }

  const deposit = parseAmount(values.deposit, "deposit");
  const reserve = parseAmount(values.reserve, "reserve");
  if (deposit + reserve === 0n) throw new UsageError("nothing to fund: give --deposit and/or --reserve");

  // The password only from a file: a password typed as an argument stays in shell history and ps.
  const passwordFile = setting("ethPassword");
  if (passwordFile === "" || !existsSync(passwordFile) || !statSync(passwordFile).isFile()) {
    throw new UsageError("--ethPassword (or LP_ETHPASSWORD) must name a file holding the keystore password");
  }
  const password = readFileSync(passwordFile, "utf8").replace(/\r?\n$/, "");
  const dataDir = setting("dataDir") || join(homedir(), ".lpData", network);
  const keystorePath = setting("ethKeystorePath") || join(dataDir, "keystore");
  let key: Uint8Array;
  try {
    key = await loadKeystoreKey({ path: keystorePath, address: setting("ethAcctAddr"), password });
  } catch (err) {
    // Its messages name the signer's flags (-ethKeystorePath, -ethPassword): the same settings here.
    throw err instanceof KeyConfigError ? new UsageError(err.message) : err;
  }

  const request = new FetchRequest(endpoint.url);
  for (const [name, value] of Object.entries(endpoint.headers)) request.setHeader(name, value);
  request.timeout = 30_000;
  // The chain id is read once with a plain call, so ethers never retries a bad URL in the background.
  const probe = new JsonRpcProvider(request, undefined, { staticNetwork: Network.from(1) });
  const chainId = BigInt((await probe.send("eth_chainId", [])) as string);
  probe.destroy();
  const provider = new JsonRpcProvider(request, undefined, { staticNetwork: Network.from(chainId) });
  const wallet = new Wallet(hexlify(key), provider);
  key.fill(0);

  try {
    const controller = new Contract(controllerAddress, controllerAbi, provider);
    const brokerAddress = (await controller.getFunction("getContract")(id("TicketBroker"))) as string;
    if (brokerAddress === ZeroAddress) throw new Error(`Controller ${controllerAddress} has no TicketBroker registered`);
    const broker = new Contract(brokerAddress, ticketBrokerAbi, wallet);
    const readFunds = async () => {
      const [sender, res] = await broker.getFunction("getSenderInfo")(wallet.address);
      return { deposit: sender.deposit as bigint, reserve: res.fundsRemaining as bigint, withdrawRound: sender.withdrawRound as bigint };
    };
    const before = await readFunds();
    const balance = await provider.getBalance(wallet.address);
    const value = deposit + reserve;
    console.log(`account      ${wallet.address} (balance ${eth(balance)})`);
    console.log(`chain        ${endpoint.redacted}, chain id ${chainId}`);
    console.log(`TicketBroker ${brokerAddress} (Controller ${controllerAddress})`);
    console.log(`now          deposit ${eth(before.deposit)}, reserve ${eth(before.reserve)}, withdrawRound ${before.withdrawRound}`);
    if (before.withdrawRound !== 0n) console.log("             an unlock is pending: lpsigner is not ready until it is cancelled");

    const tx = await broker.getFunction("fundDepositAndReserve").populateTransaction(deposit, reserve, { value });
    if (values["dry-run"]) {
      console.log(`would send   fundDepositAndReserve(${deposit}, ${reserve}) with value ${value} wei (${eth(value)})`);
      console.log(`to           ${tx.to}`);
      console.log(`data         ${tx.data}`);
      if (balance < value) console.log(`             the account holds less than the value: it needs ${eth(value - balance)} more, plus gas`);
      else console.log(`gas          about ${await wallet.estimateGas(tx)} units`);
      console.log("dry run: nothing sent");
      return;
    }
    if (balance < value) throw new Error(`the account holds ${eth(balance)}, less than the ${eth(value)} to fund (plus gas)`);
    const sent = await wallet.sendTransaction(tx);
    console.log(`sent         ${sent.hash}; waiting for it to be mined`);
    const receipt = await sent.wait(1, 10 * 60_000);
    if (receipt?.status !== 1) throw new Error(`transaction ${sent.hash} failed`);
    const after = await readFunds();
    console.log(`mined        block ${receipt.blockNumber}, gas used ${receipt.gasUsed}`);
    console.log(`now          deposit ${eth(after.deposit)}, reserve ${eth(after.reserve)}, withdrawRound ${after.withdrawRound}`);
  } finally {
    provider.destroy();
  }
}

try {
  await main();
} catch (err) {
  // One line, with the RPC URL (which may hold credentials) scrubbed out of whatever ethers quoted.
  const message = err instanceof Error ? (err as { shortMessage?: string }).shortMessage ?? err.message : String(err);
  console.error(`fund: ${ethUrl === "" ? message : scrubEthUrl(message, ethUrl)}`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
