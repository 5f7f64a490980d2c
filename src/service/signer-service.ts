import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  GenerateLivePaymentResponseSchema,
  GetSignerStatusResponseSchema,
  JobType,
  NoTicketsNeededDetailSchema,
  PriceExceededDetailSchema,
  RefreshSessionDetailSchema,
  SignerService,
  type DiscoverOrchestratorsResponseSchema,
  type GenerateLivePaymentRequest,
} from "../../gen/livepeer/signer/v1/signer_pb.js";
import { canonicalHeaderKey } from "../go/headers.js";
import {
  AuthBadPriceError,
  AuthRejectedError,
  InvalidRequestError,
  NoTicketsNeededError,
  PaymentError,
  PriceExceededError,
  RefreshSessionError,
  SignerUnavailableError,
} from "../payment/errors.js";
import { generatePayment, type PaymentDeps, type PaymentRequest } from "../payment/generate-payment.js";
import { JOB_TYPE_FIXED, JOB_TYPE_LIVE, JOB_TYPE_LV2V } from "../pricing/fee.js";
import type { ActivityRecorder } from "../activity/recorder.js";
import { trackPayment } from "../activity/outcome.js";
import { activityHandlers } from "./activity-service.js";

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
}

const JOB_TYPES: Record<number, string> = {
  [JobType.UNSPECIFIED]: "",
  [JobType.LV2V]: JOB_TYPE_LV2V,
  [JobType.LIVE]: JOB_TYPE_LIVE,
  [JobType.FIXED]: JOB_TYPE_FIXED,
};

function toPaymentRequest(req: GenerateLivePaymentRequest, ctx: HandlerContext): PaymentRequest {
  if (!req.orchestrator) throw new ConnectError("orchestrator: required", Code.InvalidArgument);
  const type = JOB_TYPES[req.type];
  if (type === undefined) throw new ConnectError(`type: unknown job type ${req.type}`, Code.InvalidArgument);
  const headers: Record<string, string[]> = {};
  ctx.requestHeader.forEach((value, key) => {
    (headers[canonicalHeaderKey(key)] ??= []).push(value);
  });
  const hasState = req.state && (req.state.state.length > 0 || req.state.sig.length > 0);
  return {
    orchestrator: req.orchestrator,
    state: hasState ? { state: req.state!.state, sig: req.state!.sig } : undefined,
    manifestId: req.manifestId,
    app: req.app,
    type,
    inPixels: req.inPixels,
    maxPrice: req.maxPrice ? { price: req.maxPrice.price, currency: req.maxPrice.currency, unit: req.maxPrice.unit } : undefined,
    decodeCapabilities: () => req.capabilities,
    headers,
    authIdHeader: ctx.requestHeader.get("signer-auth-id")?.split(",")[0]?.trim() ?? "",
  };
}

/** The one table from domain errors to Connect codes and typed details. */
export function toConnectError(err: PaymentError): ConnectError {
  if (err instanceof InvalidRequestError) return new ConnectError(err.message, Code.InvalidArgument, undefined, undefined, err);
  if (err instanceof RefreshSessionError) {
    return new ConnectError(`${err.message}: ${err.reason}`, Code.FailedPrecondition, undefined, [
      { desc: RefreshSessionDetailSchema, value: { orchestratorUrl: err.orchestratorUrl, reason: err.reason } },
    ]);
  }
  if (err instanceof PriceExceededError) {
    return new ConnectError(err.message, Code.ResourceExhausted, undefined, [
      { desc: PriceExceededDetailSchema, value: { source: err.source, price: err.price.toString(), ceiling: err.ceiling.toString() } },
    ]);
  }
  if (err instanceof NoTicketsNeededError) {
    if (!err.state) {
      return new ConnectError("no tickets: the ticket params carry no value (faceValue or winProb is 0)", Code.FailedPrecondition);
    }
    return new ConnectError("no tickets needed: existing credit covers this call", Code.AlreadyExists, undefined, [
      {
        desc: NoTicketsNeededDetailSchema,
        value: { state: { state: err.state.state, sig: err.state.sig }, balance: err.accounting?.balance.toString() ?? "" },
      },
    ]);
  }
  if (err instanceof AuthRejectedError) {
    const code = err.status === 401 ? Code.Unauthenticated : err.status === 429 ? Code.ResourceExhausted : Code.PermissionDenied;
    return new ConnectError(err.message, code);
  }
  if (err instanceof AuthBadPriceError) return new ConnectError("auth webhook returned an invalid maxPrice", Code.Internal);
  if (err instanceof SignerUnavailableError) return new ConnectError(err.message, Code.Unavailable);
  // Internal failures: the cause goes to the log, not to the client.
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

export const signerRoutes = (deps: SignerServiceDeps) => (router: ConnectRouter) =>
  router.service(SignerService, {
    ...activityHandlers(deps),

    signOrchestratorInfo() {
      const { signer } = deps.payments;
      return { address: signer.address, addressHex: signer.addressHex, signature: deps.orchInfoSignature };
    },

    async generateLivePayment(req, ctx) {
      try {
        const r = await trackPayment(deps.activity, () => generatePayment(deps.payments, toPaymentRequest(req, ctx)));
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
      } catch (err) {
        if (err instanceof NoTicketsNeededError && err.state && !req.strictNoTickets) {
          return create(GenerateLivePaymentResponseSchema, {
            state: { state: err.state.state, sig: err.state.sig },
            paymentRequired: false,
            numTickets: 0,
            billableUnits: err.accounting?.units ?? 0n,
            fee: err.accounting?.fee.toString() ?? "",
            balance: err.accounting?.balance.toString() ?? "",
          });
        }
        if (err instanceof PaymentError) throw toConnectError(err);
        throw err;
      }
    },

    discoverOrchestrators(req) {
      const snapshot = requireDiscovery(deps).select(req.caps);
      if (!snapshot) throw new ConnectError("discovery cache empty", Code.Unavailable);
      return snapshot;
    },

    async *watchOrchestrators(req, ctx) {
      const discovery = requireDiscovery(deps);
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
