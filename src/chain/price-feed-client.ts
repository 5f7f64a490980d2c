/**
 * The price-feed port over JSON-RPC: an AggregatorV3Interface contract (Chainlink's ETH / USD,
 * or the development chain's DevPriceFeed) read with eth_call through -ethUrl.
 */
import { Interface } from "ethers/abi";
import { getAddress } from "ethers/address";
import type { PriceFeedPort } from "../pricing/price-feed.js";
import { callContract, createRpc } from "./chain-client.js";

const aggregatorAbi = new Interface([
  "function decimals() view returns (uint8)",
  "function description() view returns (string)",
  "function latestRoundData() view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)",
]);

export function createPriceFeedClient(params: { ethUrl: string; address: string; timeoutMs?: number }): PriceFeedPort {
  const rpc = createRpc({ ethUrl: params.ethUrl, timeoutMs: params.timeoutMs ?? 10_000 });
  const to = getAddress(params.address);
  const call = (method: string) => callContract({ rpc, to, abi: aggregatorAbi, method });
  return {
    async description() {
      const [description] = await call("description");
      return String(description);
    },
    async latestRound() {
      // Both reads at the same block would need a block tag; a decimals() change is not expected.
      const [[decimals], round] = await Promise.all([call("decimals"), call("latestRoundData")]);
      return { roundId: BigInt(round[0]), answer: BigInt(round[1]), updatedAt: BigInt(round[3]), decimals: Number(decimals) };
    },
  };
}
