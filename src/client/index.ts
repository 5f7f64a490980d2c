/**
 * lpsigner/client: the universal entry (browsers and Node). It imports no Node module;
 * lpsigner/client/node adds gRPC, the orchestrator's GetOrchestrator call over TLS and a payment
 * sender for self-signed orchestrator certificates.
 */
export { createSignerClient, type SignerClient, type SignerClientOptions } from "./signer-client.js";
export { PaymentSession, type PaymentResult, type PaymentSessionOptions } from "./payment-session.js";
export { sendPayment, paymentUrl, PAYMENT_HEADER, SEGMENT_HEADER, type SendPaymentResult } from "./send-payment.js";
export * from "../../gen/livepeer/signer/v1/signer_pb.js";
export type { OrchestratorInfo, OrchestratorRequest, Capabilities, PriceInfo, TicketParams, AuthToken, Payment, SegData } from "../../gen/net/lp_rpc_pb.js";
export { OrchestratorInfoSchema, OrchestratorRequestSchema, CapabilitiesSchema, PaymentSchema, SegDataSchema, PaymentResultSchema, Orchestrator } from "../../gen/net/lp_rpc_pb.js";
