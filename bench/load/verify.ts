/**
 * --verify: the load client checks each reply of POST /generate-live-payment as the orchestrator
 * it pays (and the gateway keeping its state) would, with the project's own checks: the dev
 * orchestrator's ticket recipient (src/dev-orchestrator/payment-verifier.ts: recipient,
 * recipientRand, expected price, expiration, each ticket's hash and signature, nonce replay) and
 * segment-credential check, the ticket params against the orchestrator info the session sent, and
 * the state's signature. Every signature is recovered with the signer's own code (native
 * libsecp256k1 when its addon loads) and must come back to the signer's address: given, or learned
 * from the first reply (an external signer's key may be its own).
 * Nonce replay is checked per session (each its own recipient): with --orchestrators N > 0,
 * sessions sharing one OrchestratorInfo share its recipientRandHash, and an orchestrator keeping
 * nonces per recipientRandHash would see each session's nonces start again. With
 * --orchestrators 0 (each session its own info, as real streams have) the two are the same.
 */
import type { OrchestratorInfo, Payment } from "../../gen/net/lp_rpc_pb.js";
import { bytesEqual, bytesToBigint } from "../../src/crypto/bytes.js";
import { checksumAddress, verifySignature } from "../../src/crypto/eth-sign.js";
import { createTicketRecipient, decodePaymentHeader, PaymentRefusedError, verifySegmentHeader } from "../../src/dev-orchestrator/payment-verifier.js";
import type { TestOrchestrator } from "../../test/support/fixtures.js";

/** Why a 200 reply was refused: counted as an error under the label, the reason shown once. */
export interface VerifyFailure {
  label: "bad-sig" | "bad-params" | "bad-reply";
  reason: string;
}
const fail = (label: VerifyFailure["label"], reason: string): VerifyFailure => ({ label, reason });

/** The signer's address, shared by a client's sessions; learned from the first reply when not given. */
export class SignerIdentity {
  constructor(public address?: Uint8Array) {}
  describe(): string {
    return this.address ? checksumAddress(this.address) : "(no reply yet)";
  }
}

/** What a session sent: the orchestrator's info and the recipientRand behind its params. */
export interface SentOrchestrator {
  info: OrchestratorInfo;
  orch: TestOrchestrator;
}

interface LegacyReply {
  payment?: unknown;
  segCreds?: unknown;
  state?: { State?: unknown; Sig?: unknown };
}

/** One session's checker; renew() when the session starts a new state (its nonces start again). */
export class SessionVerifier {
  private readonly sent: SentOrchestrator;
  private readonly signer: SignerIdentity;
  private recipient: ReturnType<SessionVerifier["newRecipient"]>;

  constructor(sent: SentOrchestrator, signer: SignerIdentity) {
    this.sent = sent;
    this.signer = signer;
    this.recipient = this.newRecipient();
  }

  renew(): void {
    this.recipient = this.newRecipient();
  }

  /** undefined when the reply is what the orchestrator would accept. */
  check(text: string, manifestId: string): VerifyFailure | undefined {
    let reply: LegacyReply;
    let payment: Payment;
    try {
      reply = JSON.parse(text) as LegacyReply;
      if (typeof reply.payment !== "string") return fail("bad-reply", "no payment");
      payment = decodePaymentHeader(reply.payment);
    } catch (err) {
      return fail("bad-reply", (err as Error).message);
    }
    const { State, Sig } = reply.state ?? {};
    if (typeof reply.segCreds !== "string" || typeof State !== "string" || typeof Sig !== "string") return fail("bad-reply", "no segCreds or state");
    if (payment.sender.length !== 20) return fail("bad-reply", "sender not 20 bytes");
    this.signer.address ??= Uint8Array.from(payment.sender);
    const sender = this.signer.address;
    // A sender other than the signer: its signatures are not the signer's.
    if (!bytesEqual(payment.sender, sender)) return fail("bad-sig", `sender ${checksumAddress(payment.sender)}, not the signer`);
    const mismatch = this.paramsMismatch(payment);
    if (mismatch) return fail("bad-params", mismatch);
    try {
      this.recipient.receive(payment);
      verifySegmentHeader(reply.segCreds, sender, manifestId);
    } catch (err) {
      if (!(err instanceof PaymentRefusedError)) throw err;
      return fail(/signature/.test(err.message) ? "bad-sig" : "bad-params", err.message);
    }
    if (!verifySignature(sender, Buffer.from(State, "base64"), Buffer.from(Sig, "base64"))) return fail("bad-sig", "state signature");
    return undefined;
  }

  /** What differs from the info sent, if anything (numbers as numbers: a big integer's bytes may differ in leading zeros). */
  private paramsMismatch(payment: Payment): string | undefined {
    const want = this.sent.info.ticketParams!;
    const got = payment.ticketParams;
    const wantExp = want.expirationParams!;
    const gotExp = payment.expirationParams;
    const price = payment.expectedPrice;
    const n = bytesToBigint;
    if (!got) return "no ticket params";
    if (payment.ticketSenderParams.length === 0) return "no tickets";
    if (!bytesEqual(got.recipient, want.recipient)) return "recipient";
    if (!bytesEqual(got.recipientRandHash, want.recipientRandHash)) return "recipientRandHash";
    if (n(got.faceValue) !== n(want.faceValue)) return "faceValue";
    if (n(got.winProb) !== n(want.winProb)) return "winProb";
    if (n(got.seed) !== n(want.seed)) return "seed";
    if (n(got.expirationBlock) !== n(want.expirationBlock)) return "expirationBlock";
    if (!gotExp || gotExp.creationRound !== wantExp.creationRound || !bytesEqual(gotExp.creationRoundBlockHash, wantExp.creationRoundBlockHash)) return "expiration params";
    if (!price || price.pricePerUnit !== this.sent.info.priceInfo!.pricePerUnit || price.pixelsPerUnit !== this.sent.info.priceInfo!.pixelsPerUnit) return "expected price";
    return undefined;
  }

  private newRecipient() {
    const { orch, info } = this.sent;
    return createTicketRecipient({
      recipient: orch.recipient,
      recipientRand: () => orch.recipientRand,
      priceAccepted: (p) => p.pricePerUnit === info.priceInfo!.pricePerUnit && p.pixelsPerUnit === info.priceInfo!.pixelsPerUnit,
      lastSeenL1Block: () => 0n,
    });
  }
}
