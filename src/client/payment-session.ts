/**
 * One gateway session with one orchestrator: carries the signer's state between
 * GenerateLivePayment calls and turns each call into one result. The outcomes a gateway must
 * handle (pay, nothing due, refresh needed, price exceeded) are values, not exceptions; only
 * unexpected failures (network, bad input, signer unavailable) throw.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import {
  JobType,
  NoTicketsNeededDetailSchema,
  PriceExceededDetailSchema,
  RefreshSessionDetailSchema,
  type MaxPriceSchema,
  type SignerState,
} from "../../gen/livepeer/signer/v1/signer_pb.js";
import type { Capabilities, OrchestratorInfo } from "../../gen/net/lp_rpc_pb.js";
import type { SignerClient } from "./signer-client.js";

export type PaymentResult =
  /** Send paymentHeader and segmentHeader to the orchestrator (sendPayment). */
  | {
      kind: "pay";
      orchestratorUrl: string;
      paymentHeader: string;
      segmentHeader: string;
      numTickets: number;
      /** Wei, exact rational ("num" or "num/den"), as are balance and the prices below. */
      fee: string;
      balance: string;
      billableUnits: bigint;
    }
  /** Credit already covers this call: the state advanced, nothing to send. */
  | { kind: "nothing-due"; fee: string; balance: string; billableUnits: bigint }
  /** The orchestrator's auth token or ticket params expired and refreshing did not help (or no callback was given). */
  | { kind: "refresh-needed"; orchestratorUrl: string; reason: string; refreshes: number }
  /** The orchestrator's price is above a ceiling: pick another orchestrator. */
  | { kind: "price-exceeded"; source: string; price: string; ceiling: string };

export interface PaymentSessionOptions {
  signer: SignerClient;
  /** From the orchestrator's GetOrchestrator (getOrchestratorInfo in lpsigner/client/node). */
  orchestrator: OrchestratorInfo;
  manifestId: string;
  /** Default JobType.LV2V. */
  type?: JobType;
  app?: string;
  maxPrice?: MessageInitShape<typeof MaxPriceSchema>;
  capabilities?: Capabilities;
  /** Called with the orchestrator's URL when the signer asks for fresh OrchestratorInfo. */
  refreshOrchestratorInfo?: (orchestratorUrl: string) => Promise<OrchestratorInfo>;
  /** Refreshes tried within one next() before giving up with "refresh-needed" (default 3). */
  maxRefreshes?: number;
  /** A state from an earlier session to resume from. */
  state?: SignerState;
}

export class PaymentSession {
  #orchestrator: OrchestratorInfo;
  #state: SignerState | undefined;
  readonly #opts: PaymentSessionOptions;

  constructor(opts: PaymentSessionOptions) {
    this.#opts = opts;
    this.#orchestrator = opts.orchestrator;
    this.#state = opts.state;
  }

  get orchestrator(): OrchestratorInfo {
    return this.#orchestrator;
  }

  /** The signer state to send next (persist it to resume the session elsewhere). */
  get state(): SignerState | undefined {
    return this.#state;
  }

  /** Replaces the orchestrator info, e.g. with the one the orchestrator returned for a payment. */
  update(orchestrator: OrchestratorInfo): void {
    this.#orchestrator = orchestrator;
  }

  /** Asks the signer what is owed since the last call. `inPixels` only for JobType.UNSPECIFIED. */
  async next(opts: { inPixels?: bigint; signal?: AbortSignal } = {}): Promise<PaymentResult> {
    const o = this.#opts;
    for (let refreshes = 0; ; refreshes++) {
      try {
        const res = await o.signer.generateLivePayment(
          {
            orchestrator: this.#orchestrator,
            state: this.#state,
            manifestId: o.manifestId,
            app: o.app ?? "",
            type: o.type ?? JobType.LV2V,
            inPixels: opts.inPixels ?? 0n,
            maxPrice: o.maxPrice,
            capabilities: o.capabilities,
          },
          { signal: opts.signal },
        );
        this.#state = res.state;
        const common = { fee: res.fee, balance: res.balance, billableUnits: res.billableUnits };
        if (!res.paymentRequired) return { kind: "nothing-due", ...common };
        return {
          kind: "pay",
          orchestratorUrl: this.#orchestrator.transcoder,
          paymentHeader: res.paymentHeader,
          segmentHeader: res.segmentHeader,
          numTickets: res.numTickets,
          ...common,
        };
      } catch (err) {
        const ce = ConnectError.from(err);
        const [refresh] = ce.findDetails(RefreshSessionDetailSchema);
        if (refresh) {
          if (!o.refreshOrchestratorInfo || refreshes >= (o.maxRefreshes ?? 3)) {
            return { kind: "refresh-needed", orchestratorUrl: refresh.orchestratorUrl, reason: refresh.reason, refreshes };
          }
          this.#orchestrator = await o.refreshOrchestratorInfo(refresh.orchestratorUrl || this.#orchestrator.transcoder);
          continue;
        }
        const [price] = ce.findDetails(PriceExceededDetailSchema);
        if (price) return { kind: "price-exceeded", source: price.source, price: price.price, ceiling: price.ceiling };
        const [noTickets] = ce.findDetails(NoTicketsNeededDetailSchema);
        if (noTickets) {
          this.#state = noTickets.state;
          return { kind: "nothing-due", fee: "", balance: noTickets.balance, billableUnits: 0n };
        }
        throw ce;
      }
    }
  }
}
