/** GetSignerStatus's answer, built from the live chain view and the configured limits. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GetSignerStatusResponseSchema } from "../../gen/livepeer/signer/v1/signer_pb.js";
import type { ChainView } from "../chain/chain-view.js";
import type { EthSigner } from "../crypto/eth-sign.js";
import { fundingProblem, type SenderLimits } from "../pm/sender-validation.js";
import { capabilityPipeline } from "../pricing/capabilities.js";
import { feedProblem, rateAgeMs, type PriceFeedView } from "../pricing/price-feed.js";
import { ceilingWei, type Ceiling, type PriceLimits } from "../pricing/price-limits.js";
import { parseFeedCurrencies, weiPerCurrencyUnit } from "../pricing/usd-conversion.js";

export interface SignerStatusSource {
  signer: Pick<EthSigner, "address" | "addressHex">;
  /** Where the key is (KeyBackendKind); default "keystore". */
  keyBackend?: string;
  chain: ChainView;
  limits: SenderLimits;
  prices: PriceLimits;
  /** The ETH rate behind USD ceilings, when one is configured. */
  priceFeed?: PriceFeedView | undefined;
  webhookConfigured: boolean;
  version: string;
}

export function createSignerStatus(src: SignerStatusSource): () => MessageInitShape<typeof GetSignerStatusResponseSchema> {
  const { signer, chain, limits, prices, priceFeed } = src;
  /** The ceiling in force in wei, "" while its currency has no usable rate. */
  const inForce = (ceiling: Ceiling) => {
    try {
      return ceilingWei(prices, ceiling).toString();
    } catch {
      return "";
    }
  };
  return () => {
    const st = chain.status();
    const snap = st.snapshot;
    return {
      address: signer.address,
      addressHex: signer.addressHex,
      version: src.version,
      keyBackend: src.keyBackend ?? "keystore",
      // The same check that refuses payments with FAILED_PRECONDITION.
      fundingProblem: snap ? (fundingProblem(snap) ?? "") : "",
      chain: {
        chainId: snap?.chainId ?? 0n,
        round: snap?.lastInitializedRound ?? 0n,
        roundBlockHash: snap?.lastInitializedBlockHash,
        l1Block: snap?.lastSeenL1Block ?? 0n,
        deposit: snap?.sender.deposit.toString() ?? "",
        reserve: snap?.sender.reserve.toString() ?? "",
        withdrawRound: snap?.sender.withdrawRound ?? 0n,
        ageMs: BigInt(Math.max(0, Math.round(st.ageMs))),
        stale: st.stale,
        ethUrl: st.ethUrl,
        devChain: st.devChain,
      },
      limits: {
        maxTicketEv: limits.maxTicketEV.toString(),
        maxTotalEv: limits.maxTotalEV.toString(),
        depositMultiplier: Number(limits.depositMultiplier),
        maxPricePerUnit: prices.maxPrice ? inForce(prices.maxPrice) : "",
        configuredMaxPricePerUnit: prices.maxPrice?.perPixel.toString() ?? "",
        maxPriceCurrency: prices.maxPrice?.currency ?? "",
        ...(priceFeed ? { priceFeed: feedStatus(priceFeed) } : {}),
        webhookConfigured: src.webhookConfigured,
        capabilityCeilings: [...prices.perCapability].flatMap(([capability, models]) =>
          [...models].map(([modelId, ceiling]) => ({
            capability,
            pipeline: capabilityPipeline(capability) ?? "",
            modelId,
            maxPricePerUnit: inForce(ceiling),
            configuredMaxPricePerUnit: ceiling.perPixel.toString(),
            currency: ceiling.currency,
          })),
        ),
      },
    };
  };
}

function feedStatus(feed: PriceFeedView) {
  const state = feed.state();
  const now = Date.now();
  const problem = feedProblem(state, now, feed.maxAgeMs);
  const currencies = parseFeedCurrencies(state.description);
  return {
    address: state.address,
    description: state.description,
    answer: state.round?.answer.toString() ?? "",
    decimals: state.round?.decimals ?? 0,
    roundId: state.round?.roundId.toString() ?? "",
    updatedAt: state.round?.updatedAt ?? 0n,
    ageMs: BigInt(Math.round(rateAgeMs(state, now) ?? 0)),
    maxAgeMs: BigInt(feed.maxAgeMs),
    usable: problem === undefined,
    problem: problem ?? state.error ?? "",
    weiPerUnit: problem === undefined && state.round && currencies ? weiPerCurrencyUnit(state.round, currencies.base).toString() : "",
  };
}
