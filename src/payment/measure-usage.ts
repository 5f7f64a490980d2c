import { elapsedSeconds, GO_ZERO_TIME_NS } from "../go/time.js";
import { billableUnits } from "../pricing/fee.js";
import type { JobType } from "../pricing/job-type.js";
import { invalidArgument } from "./errors.js";
import type { PaymentDeps, PaymentRequest } from "./generate-payment.js";
import type { Session } from "./open-session.js";

export interface Usage {
  type: JobType;
  units: bigint;
}

/**
 * Step 8: units since the state's LastUpdate, measured to exactly the instant the new state will
 * carry. Elapsed <= 0 (a new session, or a clock stepped back) bills the preload, as the reference.
 */
export function measureUsage(deps: Pick<PaymentDeps, "byoc">, req: PaymentRequest, session: Session, now: bigint): Usage {
  // With -byoc=false, "byoc" is the unknown type master refuses here.
  if (!("known" in req.type) || (req.type.known === "byoc" && !deps.byoc?.enabled)) throw invalidArgument("invalid job type");
  const { lastUpdate } = session.state;
  const elapsed = lastUpdate === GO_ZERO_TIME_NS ? 0 : elapsedSeconds(now, lastUpdate);
  // A per-capability BYOC price is per compute-second, whatever the type (the branch's rule).
  const billing = session.perCapabilityPrice ? "byoc" : req.type.known;
  const units = billableUnits({ type: billing, elapsedSeconds: elapsed, inPixels: req.inPixels });
  if (units <= 0n) throw invalidArgument("missing billable unit or job type");
  return { type: req.type.known, units };
}
