import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  GenerateLivePaymentResponseSchema,
  GetSignerStatusResponseSchema,
  JobType,
  NoTicketsNeededDetailSchema,
  SignerService,
  type DiscoverOrchestratorsResponseSchema,
  type GenerateLivePaymentRequest,
  GetSpendResponseSchema,
} from "../../gen/livepeer/signer/v1/signer_pb.js";
import { canonicalHeaderKey } from "../go/headers.js";
import { PaymentError } from "../payment/errors.js";
import { generatePayment, type PaymentDeps, type PaymentRequest } from "../payment/generate-payment.js";
import { boundCapabilities } from "../payment/request-capabilities.js";
import type { JobType as WireJobType } from "../pricing/job-type.js";
import { toConnectError } from "./payment-errors.js";
import type { ActivityRecorder } from "../activity/recorder.js";
import { trackPayment } from "../activity/outcome.js";
import { activityHandlers } from "./activity-service.js";
import { SIGNER_BUSY, type Admission } from "../server/admission.js";
import { ByocJobError, signByocJob } from "../byoc/job.js";
import { KeyBackendUnavailableError } from "../keys/key-backend.js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";

type DiscoveryResponseInit = MessageInitShape<typeof DiscoverOrchestratorsResponseSchema>;

export interface SignerServiceDeps {
  payments: PaymentDeps;
  orchInfoSignature: Uint8Array;
  status: () => MessageInitShape<typeof GetSignerStatusResponseSchema>;
  /** Discovery, when enabled: a snapshot filtered by caps, and change notifications. */
  discovery?: {
    select(caps: string[]): DiscoveryResponseInit | undefined;
    subscribe(listener: () => void): () => void;
  };
  /** Payment activity for /metrics and WatchSignerActivity; optional for tests that do not look. */
  activity?: ActivityRecorder;
  /** Bounds on payment calls in flight and on open streams; set by createSignerServer. */
  admission?: Admission;
}

/** The Connect enum, parsed once at the edge into the domain's job type. */
const JOB_TYPES: Record<number, WireJobType> = {
  [JobType.UNSPECIFIED]: "",
  [JobType.LV2V]: "lv2v",
  [JobType.LIVE]: "live",
  [JobType.FIXED]: "fixed",
  [JobType.BYOC]: "byoc",
};

function toPaymentRequest(req: GenerateLivePaymentRequest, ctx: HandlerContext): PaymentRequest {
  if (!req.orchestrator) throw new ConnectError("orchestrator: required", Code.InvalidArgument);
  const type = JOB_TYPES[req.type];
  if (type === undefined) throw new ConnectError(`type: unknown job type ${req.type}`, Code.InvalidArgument);
  const hasState = req.state && (req.state.state.length > 0 || req.state.sig.length > 0);
  return {
    orchestrator: req.orchestrator,
    state: hasState ? { state: req.state!.state, sig: req.state!.sig } : undefined,
    manifestId: req.manifestId,
    app: req.app,
    type: { known: type },
    inPixels: req.inPixels,
    maxPrice: req.maxPrice ? { price: req.maxPrice.price, currency: req.maxPrice.currency, unit: req.maxPrice.unit } : undefined,
    capabilities: boundCapabilities(req.capabilities),
    headers: () => {
      // Names come from the wire: a null-prototype object, so "__proto__" is an ordinary header.
      const headers: Record<string, string[]> = Object.create(null);
      ctx.requestHeader.forEach((value, key) => {
        (headers[canonicalHeaderKey(key)] ??= []).push(value);
      });
      return headers;
    },
    authIdHeader: ctx.requestHeader.get("signer-auth-id")?.split(",")[0]?.trim() ?? "",
    requestId: ctx.requestHeader.get("x-request-id")?.split(",")[0]?.trim() ?? "",
    capability: req.capability,
    modelId: req.modelId,
  };
}

export const signerRoutes = (deps: SignerServiceDeps) => (router: ConnectRouter) =>
  router.service(SignerService, {
    ...activityHandlers(deps),

    async getSpend(req) {
      // At most a week back: the query reads every event in the window.
      const windowSeconds = Math.min(req.windowSeconds || 3600, 7 * 24 * 3600);
      const sinceMs = Date.now() - windowSeconds * 1000;
      const events = deps.payments.events;
      if (!events) return create(GetSpendResponseSchema, { since: timestampFromMs(sinceMs), eventsEnabled: false });
      let spend;
      try {
        spend = await events.outbox.spend(sinceMs);
      } catch (err) {
        throw new ConnectError("the event outbox cannot be read", Code.Unavailable, undefined, undefined, err);
      }
      const entries = (list: typeof spend.byAuthId) => list.map((e) => ({ key: e.key ?? "", events: BigInt(e.events), feeWei: e.feeWei }));
      const rest = (r: typeof spend.moreByAuthId) => ({ keys: BigInt(r.keys), events: BigInt(r.events), feeWei: r.feeWei });
      return create(GetSpendResponseSchema, {
        byAuthId: entries(spend.byAuthId),
        byOrchestrator: entries(spend.byOrchestrator),
        moreByAuthId: rest(spend.moreByAuthId),
        moreByOrchestrator: rest(spend.moreByOrchestrator),
        since: timestampFromMs(sinceMs),
        eventsEnabled: true,
      });
    },

    signOrchestratorInfo() {
      const { signer } = deps.payments;
      return { address: signer.address, addressHex: signer.addressHex, signature: deps.orchInfoSignature };
    },

    async generateLivePayment(req, ctx) {
      const release = deps.admission ? deps.admission.enterPayment() : () => {};
      if (!release) throw new ConnectError(SIGNER_BUSY, Code.ResourceExhausted);
      let r;
      try {
        r = await trackPayment(deps.activity, () => generatePayment(deps.payments, toPaymentRequest(req, ctx)));
      } catch (err) {
        if (err instanceof PaymentError) throw toConnectError(err);
        throw err;
      } finally {
        release();
      }
      if (r.kind === "nothing-due") {
        if (req.strictNoTickets) {
          // The reference's behaviour, on request: fail, with the advanced state in the detail.
          throw new ConnectError("no tickets needed: existing credit covers this call", Code.AlreadyExists, undefined, [
            { desc: NoTicketsNeededDetailSchema, value: { state: { state: r.state.state, sig: r.state.sig }, balance: r.balance.toString() } },
          ]);
        }
        return create(GenerateLivePaymentResponseSchema, {
          state: { state: r.state.state, sig: r.state.sig },
          paymentRequired: false,
          numTickets: 0,
          billableUnits: r.units,
          fee: r.fee.toString(),
          balance: r.balance.toString(),
        });
      }
      return create(GenerateLivePaymentResponseSchema, {
        payment: r.payment,
        segCreds: r.segCreds,
        state: { state: r.state.state, sig: r.state.sig },
        paymentHeader: r.paymentHeader,
        segmentHeader: r.segmentHeader,
        paymentRequired: true,
        numTickets: r.numTickets,
        billableUnits: r.units,
        fee: r.fee.toString(),
        balance: r.balance.toString(),
      });
    },

    async signByocJob(req) {
      if (!deps.payments.byoc?.enabled) throw new ConnectError("BYOC is not enabled on this signer (-byoc=false)", Code.Unimplemented);
      const release = deps.admission ? deps.admission.enterPayment() : () => {};
      if (!release) throw new ConnectError(SIGNER_BUSY, Code.ResourceExhausted);
      try {
        const job = { id: req.id, capability: req.capability, request: req.request, parameters: req.parameters, timeoutSeconds: req.timeoutSeconds };
        const signed = await signByocJob(deps.payments.signer, job);
        return { sender: signed.sender, senderHex: signed.senderHex, signature: signed.signature };
      } catch (err) {
        if (err instanceof ByocJobError) throw new ConnectError(err.message, Code.InvalidArgument);
        if (err instanceof KeyBackendUnavailableError) throw new ConnectError("the signing key's backend is unavailable", Code.Unavailable, undefined, undefined, err);
        throw err;
      } finally {
        release();
      }
    },

    discoverOrchestrators(req) {
      const snapshot = requireDiscovery(deps).select(req.caps);
      if (!snapshot) throw new ConnectError("discovery cache empty", Code.Unavailable);
      return snapshot;
    },

    async *watchOrchestrators(req, ctx) {
      const discovery = requireDiscovery(deps);
      const release = deps.admission?.enterStream(ctx);
      let wake: (() => void) | undefined;
      let changed = true;
      const unsubscribe = discovery.subscribe(() => {
        changed = true;
        wake?.();
      });
      const onAbort = () => wake?.();
      ctx.signal.addEventListener("abort", onAbort);
      try {
        while (!ctx.signal.aborted) {
          if (changed) {
            changed = false;
            const snapshot = discovery.select(req.caps);
            if (snapshot) yield { orchestrators: snapshot.orchestrators, snapshotTime: snapshot.snapshotTime };
          }
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        release?.();
        unsubscribe();
        ctx.signal.removeEventListener("abort", onAbort);
      }
    },

    getSignerStatus() {
      return deps.status();
    },
  });

function requireDiscovery(deps: SignerServiceDeps): NonNullable<SignerServiceDeps["discovery"]> {
  if (!deps.discovery) throw new ConnectError("discovery is not enabled on this signer (-remoteDiscovery)", Code.Unimplemented);
  return deps.discovery;
}
