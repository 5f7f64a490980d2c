/**
 * The orchestrators active in the last initialized round, as go-livepeer's on-chain discovery
 * polls them: the BondingManager transcoder pool (getFirstTranscoderInPool /
 * getNextTranscoderInPool), each member's getTranscoder activation rounds and its
 * ServiceRegistry.getServiceURI, kept when activationRound <= round < deactivationRound with
 * round = RoundsManager.lastInitializedRound (the reference's DB filter in db_discovery).
 *
 * The reference remembers every orchestrator it has seen in its database, so one that left the
 * pool is still polled until its deactivation round; `known` plays that part here.
 */
import { Interface } from "ethers/abi";
import { getAddress } from "ethers/address";
import { ZeroAddress } from "ethers/constants";
import { toBeHex } from "ethers/utils";
import { callContract, type RpcCall } from "./chain-client.js";
import type { ProtocolContracts } from "./chain-client.js";

const bondingManagerAbi = new Interface([
  "function getFirstTranscoderInPool() view returns (address)",
  "function getNextTranscoderInPool(address _transcoder) view returns (address)",
  "function getTranscoder(address _transcoder) view returns (uint256 lastRewardRound, uint256 rewardCut, uint256 feeShare, uint256 lastActiveStakeUpdateRound, uint256 activationRound, uint256 deactivationRound, uint256 activeCumulativeRewards, uint256 cumulativeRewards, uint256 cumulativeFees, uint256 lastFeeRound)",
]);
const serviceRegistryAbi = new Interface(["function getServiceURI(address _addr) view returns (string)"]);
const roundsManagerAbi = new Interface(["function lastInitializedRound() view returns (uint256)"]);

/** The pool is walked at most this far, and at most this many addresses are remembered. */
const maxOrchestrators = 1000;

export interface ActiveOrchestrator {
  /** Checksummed address */
  address: string;
  serviceUri: string;
}

/** Returns a reader that remembers the orchestrators it has seen between calls. */
export function createActiveOrchestratorReader(params: { rpc: RpcCall; contracts: ProtocolContracts }) {
  const { rpc, contracts } = params;
  const known = new Set<string>();

  return async function activeOrchestrators(): Promise<ActiveOrchestrator[]> {
    // Every read at one block, so the round and the pool agree.
    const blockTag = toBeHex(BigInt((await rpc("eth_blockNumber", [])) as string));
    const call = (to: string, abi: Interface, method: string, args: unknown[] = []) => callContract({ rpc, to, abi, method, args, blockTag });

    const [round] = (await call(contracts.RoundsManager, roundsManagerAbi, "lastInitializedRound")) as unknown as [bigint];
    const candidates: string[] = [];
    let [address] = (await call(contracts.BondingManager, bondingManagerAbi, "getFirstTranscoderInPool")) as unknown as [string];
    while (address !== ZeroAddress && candidates.length < maxOrchestrators) {
      candidates.push(getAddress(address));
      [address] = (await call(contracts.BondingManager, bondingManagerAbi, "getNextTranscoderInPool", [address])) as unknown as [string];
    }
    for (const a of candidates) known.add(a);
    for (const a of known) {
      if (known.size <= maxOrchestrators) break;
      known.delete(a); // the oldest first
    }

    const active: ActiveOrchestrator[] = [];
    for (const a of [...new Set([...candidates, ...known])]) {
      const t = await call(contracts.BondingManager, bondingManagerAbi, "getTranscoder", [a]);
      const activationRound = t.activationRound as bigint;
      const deactivationRound = t.deactivationRound as bigint;
      if (deactivationRound <= round && !candidates.includes(a)) known.delete(a); // gone for good unless it rejoins
      if (!(activationRound <= round && round < deactivationRound)) continue;
      const [serviceUri] = (await call(contracts.ServiceRegistry, serviceRegistryAbi, "getServiceURI", [a])) as unknown as [string];
      active.push({ address: a, serviceUri });
    }
    return active;
  };
}
