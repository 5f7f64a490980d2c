import { parseGoJson } from "../go/json.js";
import { goInt, goInt64, goPointer, goString, goStruct, readGoStruct } from "../go/struct.js";
import { LiveRunnerPriceInfo, toMaxPriceInput, type MaxPriceInput } from "./max-price.js";

/** The auth webhook's reply (the reference's authResponse). */
const AuthResponse = goStruct("server.authResponse", {
  status: ["status", goPointer(goInt)],
  reason: ["reason", goString],
  expiry: ["expiry", goInt64],
  authId: ["auth_id", goString],
  maxPrice: ["maxPrice", goPointer(LiveRunnerPriceInfo)],
});

export interface AuthReplyJson {
  /** undefined when absent or null (a *int in Go). */
  status: bigint | undefined;
  reason: string;
  expiry: bigint;
  authId: string;
  maxPrice: MaxPriceInput | undefined;
}

/** Reads the reply as json.Unmarshal does; throws JsonSyntaxError or JsonTypeError with Go's messages. */
export function readAuthReplyJson(text: string): AuthReplyJson {
  const r = readGoStruct(AuthResponse, parseGoJson(text, "unmarshal")) ?? {};
  return { status: r.status, reason: r.reason ?? "", expiry: r.expiry ?? 0n, authId: r.authId ?? "", maxPrice: toMaxPriceInput(r.maxPrice) };
}
