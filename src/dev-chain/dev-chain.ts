/**
 * A development chain: an in-process EVM (Nomic Foundation's EDR, the engine inside Hardhat's
 * network) served as Ethereum JSON-RPC over HTTP on loopback, with the Livepeer-shaped contracts
 * from contracts/ deployed and registered in a Controller. For tests and local runs only: its
 * accounts' keys are public test keys.
 *
 * Over 250 lines: the EDR provider, its JSON-RPC server and the contract deployment are one
 * lifecycle (start, deploy, fund, close); development use only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as edr from "@nomicfoundation/edr";
import {
  Contract,
  ContractFactory,
  JsonRpcApiProvider,
  JsonRpcSigner,
  Network,
  Wallet,
  getAddress,
  id,
  keccak256,
  parseEther,
  toBeHex,
  toUtf8Bytes,
  type InterfaceAbi,
  type JsonRpcError,
  type JsonRpcPayload,
  type JsonRpcResult,
} from "ethers";
import artifacts from "./artifacts/contracts.json" with { type: "json" };

export interface DevChainOptions {
  /** Loopback port to serve JSON-RPC on; 0 (default) picks a free one. */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Default 1337. */
  chainId?: bigint;
  /** Blocks per round (default 100). */
  roundLength?: bigint;
  /** The round initialized at start (default 1000). */
  firstRound?: bigint;
  /** A signer address to fund with ETH and a TicketBroker deposit and reserve at start. */
  signer?: FundSenderParameters;
}

export interface FundSenderParameters {
  address: string;
  /** ETH sent to the address for gas (default 100 ETH). */
  eth?: bigint;
  /** TicketBroker deposit added (default 10 ETH). */
  deposit?: bigint;
  /** TicketBroker reserve added (default 10 ETH). */
  reserve?: bigint;
}

/** A prefunded account of the development chain. TEST-ONLY key: never use it anywhere else. */
export interface DevAccount {
  address: string;
  privateKey: string;
}

export interface DevChainContracts {
  Controller: string;
  RoundsManager: string;
  BondingManager: string;
  ServiceRegistry: string;
  TicketBroker: string;
}

export interface DevChain {
  /** http://host:port of the JSON-RPC endpoint */
  url: string;
  controllerAddress: string;
  chainId: bigint;
  /** Prefunded accounts; accounts[0] deployed the contracts and owns the Controller. TEST-ONLY keys. */
  accounts: DevAccount[];
  contracts: DevChainContracts;
  /** ABIs of the deployed contracts, by name. */
  abis: Record<keyof DevChainContracts, InterfaceAbi>;
  /** An ethers provider talking to the chain in-process (no HTTP). */
  provider: JsonRpcApiProvider;
  /** Mines empty blocks. */
  mineBlocks(params: { count: number }): Promise<void>;
  /** Moves to the next round and initializes it; returns the new round. */
  advanceRound(): Promise<bigint>;
  /**
   * Adds address to the transcoder pool and publishes its service URI. It is active from the next
   * round, as on Livepeer, or (activeNow, the default) from the last initialized round.
   */
  registerOrchestrator(params: { address: string; serviceUri: string; activeNow?: boolean }): Promise<void>;
  /** Removes address from the pool; as on Livepeer it stays active until the current round ends. */
  resignOrchestrator(params: { address: string }): Promise<void>;
  /** Sends ETH to an address and adds to its TicketBroker deposit and reserve. */
  fundSender(params: FundSenderParameters): Promise<void>;
  /** The ETH / USD price feed (AggregatorV3Interface, 8 decimals, answer 3000 USD at start): tests move it. */
  priceFeed: DevPriceFeed;
  /** Stops serving; in-flight requests are dropped. */
  close(): Promise<void>;
}

export interface DevPriceFeed {
  address: string;
  decimals: number;
  /** A new round: `answer` (USD per ETH × 10^decimals) updated at `updatedAt` (seconds; default: now). */
  setAnswer(params: { answer: bigint; updatedAt?: bigint }): Promise<void>;
}

/** The development feed's decimals and starting answer (3000 USD per ETH), as Chainlink's ETH / USD feeds use 8. */
export const DEV_PRICE_FEED_DECIMALS = 8;
export const DEV_PRICE_FEED_ANSWER = 3000n * 10n ** 8n;

type ContractName = keyof DevChainContracts | "DevPriceFeed";

const accountCount = 10;
const accountBalance = parseEther("10000");
const unlockPeriod = 2n;
const ticketValidityPeriod = 2n;

/** Deterministic, publicly known keys (so addresses are stable between runs). TEST-ONLY. */
export function devAccountKeys(): string[] {
  return Array.from({ length: accountCount }, (_, i) => keccak256(toUtf8Bytes(`lpsigner dev chain test account ${i}`)));
}

let edrContext: Promise<edr.EdrContext> | undefined;

/** EDR wants one context per process. */
function getEdrContext(): Promise<edr.EdrContext> {
  edrContext ??= (async () => {
    const context = new edr.EdrContext();
    await context.registerProviderFactory(edr.L1_CHAIN_TYPE, edr.l1ProviderFactory());
    return context;
  })();
  return edrContext;
}

type Rpc = (payload: JsonRpcPayload) => Promise<JsonRpcResult | JsonRpcError>;

async function createEdrRpc(params: { chainId: bigint; keys: string[] }): Promise<Rpc> {
  const context = await getEdrContext();
  const hardfork = edr.CANCUN;
  const genesisState: edr.AccountOverride[] = [
    ...edr.l1GenesisState(edr.l1HardforkFromString(hardfork)),
    ...params.keys.map((key) => ({
      address: Buffer.from(new Wallet(key).address.slice(2), "hex"),
      balance: accountBalance,
    })),
  ];
  const provider = await context.createProvider(
    edr.L1_CHAIN_TYPE,
    {
      allowBlocksWithSameTimestamp: false,
      allowUnlimitedContractSize: false,
      bailOnCallFailure: true,
      bailOnTransactionFailure: true,
      chainId: params.chainId,
      coinbase: Buffer.alloc(20),
      defaultTransactionGasLimit: 30_000_000n,
      genesisState,
      hardfork,
      initialBaseFeePerGas: 1_000_000_000n,
      minGasPrice: 0n,
      mining: { autoMine: true, memPool: { order: edr.MineOrdering.Priority } },
      network: { genesisBlockGasLimit: 30_000_000n },
      networkId: params.chainId,
      observability: {},
      ownedAccounts: params.keys,
      precompileOverrides: [],
    },
    { enable: false, decodeConsoleLogInputsCallback: () => [], printLineCallback: () => {} },
    { subscriptionCallback: () => {} },
    new edr.ContractDecoder(),
  );
  return async (payload) => {
    const response = await provider.handleRequest(JSON.stringify({ ...payload, jsonrpc: "2.0" }));
    const data = (typeof response.data === "string" ? JSON.parse(response.data) : response.data) as
      | { result: unknown }
      | { error: JsonRpcError["error"] };
    // EDR reports revert data as {data: "0x…", reason, …}; geth-style nodes (and clients) use the hex string itself.
    if ("error" in data && data.error.data && typeof data.error.data === "object") {
      const revert = (data.error.data as { data?: unknown }).data;
      data.error = { ...data.error, data: typeof revert === "string" ? revert : undefined };
    }
    return { id: payload.id, ...data } as JsonRpcResult | JsonRpcError;
  };
}

/** An ethers provider that sends each request straight to the in-process chain. */
class InProcessProvider extends JsonRpcApiProvider {
  readonly #rpc: Rpc;
  constructor(rpc: Rpc, chainId: bigint) {
    super(Network.from(chainId), { staticNetwork: true, batchMaxCount: 1, pollingInterval: 20, cacheTimeout: -1 });
    this.#rpc = rpc;
  }
  async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<(JsonRpcResult | JsonRpcError)[]> {
    const payloads = Array.isArray(payload) ? payload : [payload];
    return Promise.all(payloads.map((p) => this.#rpc(p)));
  }
}

function rpcError(id: unknown, code: number, message: string) {
  return { jsonrpc: "2.0", id: typeof id === "string" || typeof id === "number" ? id : null, error: { code, message } };
}

/**
 * One request of a body (single or batch). JSON-RPC 2.0 lets a request omit `params`, and
 * go-ethereum's client does for calls without arguments (eth_chainId); EDR requires the field, so
 * a missing (or null, which geth's own server also takes) `params` becomes []. Anything that is not
 * a request object gets an "invalid request" error rather than reaching EDR.
 */
async function handleRequest(rpc: Rpc, request: unknown) {
  if (request === null || typeof request !== "object" || Array.isArray(request)) return rpcError(null, -32600, "invalid request");
  const payload = request as Partial<JsonRpcPayload>;
  if (typeof payload.method !== "string") return rpcError(payload.id, -32600, "invalid request: no method");
  try {
    return { ...(await rpc({ ...payload, params: payload.params ?? [] } as JsonRpcPayload)), jsonrpc: "2.0" };
  } catch (err) {
    return rpcError(payload.id, -32603, String(err));
  }
}

function serveRpc(params: { rpc: Rpc; host: string; port: number }): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "POST" }).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void (async () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } }));
          return;
        }
        const out = Array.isArray(body)
          ? body.length === 0
            ? rpcError(null, -32600, "invalid request: empty batch")
            : await Promise.all(body.map((p) => handleRequest(params.rpc, p)))
          : await handleRequest(params.rpc, body);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(out));
      })();
    });
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(params.port, params.host, () => {
      server.off("error", reject);
      resolvePromise(server);
    });
  });
}

/** Starts a development chain with the protocol contracts deployed, a round initialized, and opts.signer funded. */
export async function startDevChain(opts: DevChainOptions = {}): Promise<DevChain> {
  const chainId = opts.chainId ?? 1337n;
  const host = opts.host ?? "127.0.0.1";
  const roundLength = opts.roundLength ?? 100n;
  const firstRound = opts.firstRound ?? 1000n;
  const keys = devAccountKeys();
  const rpc = await createEdrRpc({ chainId, keys });
  const provider = new InProcessProvider(rpc, chainId);
  const deployer = new Wallet(keys[0]!, provider);
  const abis = Object.fromEntries(
    Object.entries(artifacts.contracts).map(([name, a]) => [name, a.abi as InterfaceAbi]),
  ) as Record<ContractName, InterfaceAbi>;

  const deploy = async (name: ContractName, args: unknown[] = []): Promise<Contract> => {
    const factory = new ContractFactory(abis[name], artifacts.contracts[name].bytecode, deployer);
    const contract = await factory.deploy(...args);
    await contract.waitForDeployment();
    return contract as Contract;
  };
  const send = async (contract: Contract, method: string, args: unknown[], overrides: object = {}) => {
    const tx = await contract.getFunction(method).send(...args, overrides);
    const receipt = await tx.wait();
    if (receipt?.status !== 1) throw new Error(`dev chain: ${method} failed`);
  };

  const controller = await deploy("Controller");
  const controllerAddress = await controller.getAddress();
  const deployed: Record<keyof DevChainContracts, Contract> = {
    Controller: controller,
    RoundsManager: await deploy("RoundsManager", [controllerAddress, roundLength]),
    BondingManager: await deploy("BondingManager", [controllerAddress]),
    ServiceRegistry: await deploy("ServiceRegistry"),
    TicketBroker: await deploy("TicketBroker", [controllerAddress, unlockPeriod, ticketValidityPeriod]),
  };
  const contracts = {} as DevChainContracts;
  for (const name of Object.keys(deployed) as (keyof DevChainContracts)[]) {
    contracts[name] = await deployed[name].getAddress();
    if (name !== "Controller") {
      await send(controller, "setContractInfo", [id(name), contracts[name], "0x" + "00".repeat(20)]);
    }
  }

  const rounds = deployed.RoundsManager;
  const currentRound = (await rounds.getFunction("currentRound")()) as bigint;
  if (firstRound > currentRound) await send(rounds, "devSkipRounds", [firstRound - currentRound]);
  await send(rounds, "initializeRound", []);

  const mineBlocks = async ({ count }: { count: number }) => {
    if (count <= 0) return;
    await provider.send("hardhat_mine", [toBeHex(count)]);
  };

  const advanceRound = async (): Promise<bigint> => {
    const round = (await rounds.getFunction("currentRound")()) as bigint;
    const last = (await rounds.getFunction("lastInitializedRound")()) as bigint;
    if (round <= last) await send(rounds, "devSkipRounds", [last + 1n - round]);
    await send(rounds, "initializeRound", []);
    return (await rounds.getFunction("lastInitializedRound")()) as bigint;
  };

  /** Sends transactions as `address` without its key: the chain accepts impersonated accounts. */
  const asAccount = async (address: string, act: (signer: JsonRpcSigner) => Promise<void>) => {
    const from = getAddress(address);
    const balance = await provider.getBalance(from);
    if (balance < parseEther("1")) await provider.send("hardhat_setBalance", [from, toBeHex(parseEther("10"))]);
    await provider.send("hardhat_impersonateAccount", [from]);
    try {
      await act(new JsonRpcSigner(provider, from));
    } finally {
      await provider.send("hardhat_stopImpersonatingAccount", [from]);
    }
  };

  const registerOrchestrator = async ({ address, serviceUri, activeNow = true }: { address: string; serviceUri: string; activeNow?: boolean }) => {
    await asAccount(address, async (signer) => {
      await send(deployed.BondingManager.connect(signer) as Contract, "transcoder", [0n, 0n]);
      await send(deployed.ServiceRegistry.connect(signer) as Contract, "setServiceURI", [serviceUri]);
    });
    if (activeNow) await send(deployed.BondingManager, "devActivateNow", [getAddress(address)]);
  };

  const resignOrchestrator = async ({ address }: { address: string }) => {
    await asAccount(address, (signer) => send(deployed.BondingManager.connect(signer) as Contract, "resignTranscoder", []));
  };

  const fundSender = async (params: FundSenderParameters) => {
    const to = getAddress(params.address);
    const eth = params.eth ?? parseEther("100");
    const deposit = params.deposit ?? parseEther("10");
    const reserve = params.reserve ?? parseEther("10");
    if (eth > 0n) await (await deployer.sendTransaction({ to, value: eth })).wait();
    if (deposit + reserve > 0n) {
      await send(deployed.TicketBroker, "fundDepositAndReserveFor", [to, deposit, reserve], { value: deposit + reserve });
    }
  };

  if (opts.signer) await fundSender(opts.signer);

  const feed = await deploy("DevPriceFeed", [DEV_PRICE_FEED_DECIMALS, "ETH / USD", DEV_PRICE_FEED_ANSWER]);
  const priceFeed: DevPriceFeed = {
    address: await feed.getAddress(),
    decimals: DEV_PRICE_FEED_DECIMALS,
    setAnswer: ({ answer, updatedAt }) => send(feed, "setAnswer", [answer, updatedAt ?? BigInt(Math.floor(Date.now() / 1000))]),
  };
  // Stamped with the wall clock: the blocks mined above run the chain's clock ahead of it.
  await priceFeed.setAnswer({ answer: DEV_PRICE_FEED_ANSWER });

  const server = await serveRpc({ rpc, host, port: opts.port ?? 0 });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    controllerAddress,
    chainId,
    accounts: keys.map((privateKey) => ({ address: new Wallet(privateKey).address, privateKey })),
    contracts,
    abis,
    provider,
    mineBlocks,
    advanceRound,
    registerOrchestrator,
    resignOrchestrator,
    fundSender,
    priceFeed,
    close: async () => {
      provider.destroy();
      await new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
    },
  };
}
