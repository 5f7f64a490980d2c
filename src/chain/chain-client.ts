/**
 * The chain view the signer signs against: contract addresses resolved once through the
 * Controller (as the reference's eth/client.go does), then the round, its block hash, the latest
 * (L1) block and the signer's TicketBroker funds read in the background, so the payment path only
 * reads a cached snapshot and never waits on the chain.
 *
 * Over 250 lines: address resolution, the background refresh and the staleness rule share one
 * snapshot and one RPC client; apart they would need a shared mutable object.
 */
import { Interface, type Result } from "ethers/abi";
import { getAddress } from "ethers/address";
import { ZeroAddress } from "ethers/constants";
import { id } from "ethers/hash";
import { getBytes, toBeHex } from "ethers/utils";
import { parseEthEndpoint, redactEthUrl, scrubEthUrl } from "./eth-url.js";
import { createActiveOrchestratorReader } from "./orchestrator-pool.js";
import { ChainUnavailableError, type ChainSnapshot, type ChainStatus, type ChainView } from "./chain-view.js";
import { systemClock, type Clock } from "../clock.js";

/** Controller addresses go-livepeer uses for -network (cmd/livepeer/starter). */
export const networkControllers = {
  "arbitrum-one-mainnet": "0xD8E8328501E9645d16Cf49539efC04f734606ee4",
  mainnet: "0xF96D54E490317c557A967ABfA5d6e33006BE69b3",
  /** deprecated test network */
  "arbitrum-one-rinkeby": "0x9ceC649179e2C7Ab91688271bcD09fb707b3E574",
  /** deprecated test network */
  rinkeby: "0x9a9827455911a858E55f07911904fACC0D66027E",
} as const satisfies Record<string, string>;

/** pino-compatible subset. */
export interface ChainLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface ChainViewOptions {
  ethUrl: string;
  controllerAddress: string;
  signerAddress: string;
  /** Time between background reads (default 5000 ms). */
  refreshIntervalMs?: number;
  /** current() refuses a snapshot older than this (default 60000 ms). */
  maxStalenessMs?: number;
  /** Time allowed for one JSON-RPC request (default 10000 ms). */
  requestTimeoutMs?: number;
  /** Reported in status(): the view reads a development chain. */
  devChain?: boolean;
  logger?: ChainLogger;
  /** Wall clock (default systemClock). */
  now?: Clock;
}

/** Protocol contracts the view uses, resolved through Controller.getContract(keccak256(name)). */
export interface ProtocolContracts {
  RoundsManager: string;
  TicketBroker: string;
  BondingManager: string;
  ServiceRegistry: string;
}

const contractNames = ["RoundsManager", "TicketBroker", "BondingManager", "ServiceRegistry"] as const;

const controllerAbi = new Interface(["function getContract(bytes32 _id) view returns (address)"]);
const roundsManagerAbi = new Interface([
  "function lastInitializedRound() view returns (uint256)",
  "function blockHashForRound(uint256 _round) view returns (bytes32)",
]);
const ticketBrokerAbi = new Interface([
  "function getSenderInfo(address _sender) view returns (tuple(uint256 deposit, uint256 withdrawRound) sender, tuple(uint256 fundsRemaining, uint256 claimedInCurrentRound) reserve)",
]);

/** A JSON-RPC request failed or the node answered with an error. */
export class ChainRpcError extends Error {
  override name = "ChainRpcError";
  constructor(
    readonly method: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${method}: ${message}`, options);
  }
}

export { redactEthUrl };

export type RpcCall = (method: string, params: unknown[]) => Promise<unknown>;

export function createRpc(params: { ethUrl: string; timeoutMs: number }): RpcCall {
  let nextId = 1;
  const endpoint = parseEthEndpoint(params.ethUrl);
  return async (method, rpcParams) => {
    let response: Response;
    try {
      response = await fetch(endpoint.url, {
        method: "POST",
        headers: { ...endpoint.headers, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params: rpcParams }),
        signal: AbortSignal.timeout(params.timeoutMs),
      });
    } catch (err) {
      const reason = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
      // No cause kept: fetch errors may quote the URL, which may hold secrets.
      throw new ChainRpcError(method, `request failed: ${scrubEthUrl(reason, params.ethUrl)}`);
    }
    if (!response.ok) throw new ChainRpcError(method, `HTTP ${response.status}`);
    let body: { result?: unknown; error?: { code?: number; message?: string } };
    try {
      body = (await response.json()) as typeof body;
    } catch (err) {
      throw new ChainRpcError(method, "response is not JSON", { cause: err });
    }
    if (body.error) throw new ChainRpcError(method, `node error ${body.error.code ?? ""}: ${body.error.message ?? ""}`.trim());
    if (!("result" in body)) throw new ChainRpcError(method, "response has no result");
    return body.result;
  };
}

export async function callContract(params: {
  rpc: RpcCall;
  to: string;
  abi: Interface;
  method: string;
  args?: unknown[];
  blockTag?: string;
}): Promise<Result> {
  const data = params.abi.encodeFunctionData(params.method, params.args ?? []);
  const out = await params.rpc("eth_call", [{ to: params.to, data }, params.blockTag ?? "latest"]);
  if (typeof out !== "string") throw new ChainRpcError("eth_call", `${params.method}: result is not hex data`);
  try {
    return params.abi.decodeFunctionResult(params.method, out);
  } catch (err) {
    throw new ChainRpcError("eth_call", `${params.method} at ${params.to}: cannot decode result ${out.slice(0, 74)}`, { cause: err });
  }
}

function parseQuantity(value: unknown, field: string): bigint {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]+$/.test(value)) {
    throw new ChainRpcError("eth_getBlockByNumber", `${field} is not a hex quantity`);
  }
  return BigInt(value);
}

/** Resolves the protocol contracts through the Controller; fails if any is missing. */
export async function resolveProtocolContracts(params: {
  rpc: RpcCall;
  controllerAddress: string;
}): Promise<ProtocolContracts> {
  const controller = getAddress(params.controllerAddress);
  const code = await params.rpc("eth_getCode", [controller, "latest"]);
  if (typeof code !== "string" || code === "0x") {
    throw new Error(`no contract at Controller address ${controller}`);
  }
  const resolved = {} as ProtocolContracts;
  for (const name of contractNames) {
    const [address] = await callContract({ rpc: params.rpc, to: controller, abi: controllerAbi, method: "getContract", args: [id(name)] });
    if (typeof address !== "string" || address === ZeroAddress) {
      throw new Error(`Controller ${controller} has no ${name} registered`);
    }
    resolved[name] = getAddress(address);
  }
  return resolved;
}

async function readSnapshot(params: {
  rpc: RpcCall;
  contracts: ProtocolContracts;
  signerAddress: string;
  readAt: number;
}): Promise<ChainSnapshot> {
  const { rpc, contracts } = params;
  const chainId = parseQuantity(await rpc("eth_chainId", []), "chainId");
  const block = (await rpc("eth_getBlockByNumber", ["latest", false])) as Record<string, unknown> | null;
  if (!block || typeof block !== "object") throw new ChainRpcError("eth_getBlockByNumber", "no latest block");
  const blockNumber = parseQuantity(block["number"], "number");
  // Arbitrum headers carry the L1 block number the sequencer saw; elsewhere the block number is the L1 block.
  const lastSeenL1Block =
    block["l1BlockNumber"] != null ? parseQuantity(block["l1BlockNumber"], "l1BlockNumber") : blockNumber;
  // All contract reads at the same block, so the snapshot is one consistent state.
  const blockTag = toBeHex(blockNumber);

  const [round] = await callContract({ rpc, to: contracts.RoundsManager, abi: roundsManagerAbi, method: "lastInitializedRound", blockTag });
  const lastInitializedRound = round as bigint;
  const [hash] = await callContract({
    rpc,
    to: contracts.RoundsManager,
    abi: roundsManagerAbi,
    method: "blockHashForRound",
    args: [lastInitializedRound],
    blockTag,
  });
  const [sender, reserve] = await callContract({
    rpc,
    to: contracts.TicketBroker,
    abi: ticketBrokerAbi,
    method: "getSenderInfo",
    args: [params.signerAddress],
    blockTag,
  });
  return {
    chainId,
    lastInitializedRound,
    lastInitializedBlockHash: getBytes(hash as string),
    lastSeenL1Block,
    sender: {
      deposit: sender.deposit as bigint,
      reserve: reserve.fundsRemaining as bigint,
      withdrawRound: sender.withdrawRound as bigint,
    },
    readAt: params.readAt,
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Resolves the protocol contracts, reads a first snapshot (throws if either fails), then keeps
 * the snapshot fresh in the background until close().
 */
export async function createChainView(opts: ChainViewOptions): Promise<ChainView> {
  const refreshIntervalMs = opts.refreshIntervalMs ?? 5000;
  const maxStalenessMs = opts.maxStalenessMs ?? 60000;
  const now = opts.now ?? systemClock;
  const logger = opts.logger;
  const signerAddress = getAddress(opts.signerAddress);
  const ethUrl = redactEthUrl(opts.ethUrl);
  const rpc = createRpc({ ethUrl: opts.ethUrl, timeoutMs: opts.requestTimeoutMs ?? 10000 });

  let contracts: ProtocolContracts;
  let snapshot: ChainSnapshot;
  try {
    contracts = await resolveProtocolContracts({ rpc, controllerAddress: opts.controllerAddress });
    snapshot = await readSnapshot({ rpc, contracts, signerAddress, readAt: now() });
  } catch (err) {
    throw new ChainUnavailableError(`cannot read the chain at ${ethUrl} (Controller ${opts.controllerAddress}): ${errorMessage(err)}`, {
      cause: err,
    });
  }
  logger?.info(
    { ethUrl, chainId: snapshot.chainId.toString(), round: snapshot.lastInitializedRound.toString(), ...contracts },
    "chain view ready",
  );

  let lastError: unknown;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> | undefined;

  const refresh = async () => {
    const readAt = now();
    try {
      const next = await readSnapshot({ rpc, contracts, signerAddress, readAt });
      if (lastError !== undefined) logger?.info({ ethUrl }, "chain reads recovered");
      lastError = undefined;
      if (next.chainId !== snapshot.chainId) {
        logger?.warn({ ethUrl, was: snapshot.chainId.toString(), now: next.chainId.toString() }, "chain id changed");
      }
      snapshot = next;
    } catch (err) {
      if (lastError === undefined) logger?.warn({ ethUrl, err: errorMessage(err) }, "chain read failed; serving the cached view");
      lastError = err;
    }
  };

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      refreshing = refresh().finally(() => {
        refreshing = undefined;
        schedule();
      });
    }, refreshIntervalMs);
    timer.unref();
  };
  schedule();

  const ageMs = () => Math.max(0, now() - snapshot.readAt);

  return {
    current() {
      const age = ageMs();
      if (age > maxStalenessMs) {
        throw new ChainUnavailableError(
          // Callers see only the age: the RPC error names the chain endpoint, so it stays in the cause (logs).
          `chain view is ${age} ms old (limit ${maxStalenessMs} ms)`,
          { cause: lastError },
        );
      }
      return snapshot;
    },
    status(): ChainStatus {
      const age = ageMs();
      return { snapshot, ageMs: age, stale: age > maxStalenessMs, ethUrl, devChain: opts.devChain ?? false };
    },
    registeredOrchestrators: createActiveOrchestratorReader({ rpc, contracts }),
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await refreshing;
    },
  };
}
