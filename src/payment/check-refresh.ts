import type { OrchestratorInfo } from "../../gen/net/lp_rpc_pb.js";
import { ChainUnavailableError, type ChainSnapshot, type ChainView } from "../chain/chain-view.js";
import { validateTicketParams } from "../pm/sender-validation.js";
import { invalidArgument, refreshSession, unavailable, unfunded } from "./errors.js";
import type { PaymentDeps } from "./generate-payment.js";
import type { Session } from "./open-session.js";

/** A session's params are refreshed from this sender nonce on: orchestrators cap it at 600. */
export const NONCE_REFRESH_AT = 500;
/** The orchestrator's auth token is refreshed in the last 10 % of its 30-minute validity. */
const AUTH_TOKEN_REFRESH_SECONDS = 180n;
const NS_PER_SEC = 1_000_000_000n;
/** Seconds from year 1 to the Unix epoch: Go's time.Time counts from year 1, in an int64. */
const UNIX_TO_INTERNAL = 62_135_596_800n;

/**
 * Step 7: whether the gateway must fetch fresh OrchestratorInfo first (nonce range used up,
 * auth token or params about to expire), and whether the signer's funds can back tickets.
 * Returns the chain view the rest of the call signs against.
 */
export function checkRefresh(deps: PaymentDeps, info: OrchestratorInfo, session: Session, now: bigint): ChainSnapshot {
  // Orchestrators refuse nonces past 600 per recipientRand; a call may add 100 (go-livepeer #4028).
  if (session.lastNonce >= NONCE_REFRESH_AT) throw refreshSession(info.transcoder, "sender nonce limit reached");
  if (!info.authToken) {
    throw invalidArgument("remote signer could not check whether to refresh session: missing auth token");
  }
  if (authTokenNeedsRefresh(info.authToken.expiration, now)) throw refreshSession(info.transcoder, "auth token expired");
  const chain = currentChain(deps.chain);
  const failure = validateTicketParams(session.params, 1, chain, deps.limits);
  if (failure?.kind === "expired") throw refreshSession(info.transcoder, "ticket params expired");
  const message = failure && `remote signer could not check whether to refresh session: ${failure.message}`;
  // The signer's funds are not the caller's fault: FAILED_PRECONDITION (legacy keeps the reference's 400).
  if (failure?.kind === "unfunded") throw unfunded(message!);
  if (failure) throw invalidArgument(message!);
  return chain;
}

/**
 * time.Now().After(time.Unix(expiration - 180, 0)) with Go's int64 arithmetic, wrap-arounds
 * included (an expiration near the int64 limits reads as already past, as in the reference).
 */
export function authTokenNeedsRefresh(expiration: bigint, nowNs: bigint): boolean {
  const refreshPoint = BigInt.asIntN(64, BigInt.asIntN(64, expiration - AUTH_TOKEN_REFRESH_SECONDS) + UNIX_TO_INTERNAL);
  const nowSec = nowNs / NS_PER_SEC + UNIX_TO_INTERNAL;
  return nowSec > refreshPoint || (nowSec === refreshPoint && nowNs % NS_PER_SEC > 0n);
}

/** The chain view's snapshot; a missing or stale view is the chain subsystem's error, told as UNAVAILABLE. */
function currentChain(chain: ChainView): ChainSnapshot {
  try {
    return chain.current();
  } catch (err) {
    if (err instanceof ChainUnavailableError) throw unavailable(err.message, err);
    throw err;
  }
}
