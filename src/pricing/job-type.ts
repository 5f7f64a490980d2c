/**
 * The job types the reference bills, by their wire name (request `type`, state `Type`). "byoc" is
 * the BYOC branch's (ae1a0ea7a); with -byoc=false it is refused at the reference's step, as master.
 */
export type JobType = "" | "lv2v" | "live" | "fixed" | "byoc";

/**
 * A request's job type, parsed once at the edge. An unknown legacy string is kept rather than
 * refused there, so that it is refused ("invalid job type") at the reference's step and still
 * compared with the state's Type before that.
 */
export type RequestedJobType = { known: JobType } | { unknown: string };

const KNOWN: readonly string[] = ["", "lv2v", "live", "fixed", "byoc"] satisfies JobType[];

/** The legacy request's `type` string. */
export function parseJobType(wire: string): RequestedJobType {
  return KNOWN.includes(wire) ? { known: wire as JobType } : { unknown: wire };
}

/** The wire name, as the state and the webhook carry it. */
export function jobTypeName(type: RequestedJobType): string {
  return "known" in type ? type.known : type.unknown;
}
