import { parseGoJson } from "../go/json.js";
import { goInt, goString, goStruct, readGoStruct } from "../go/struct.js";
import type { ByocJob } from "./job.js";

/** server.SignBYOCJobRequestInput, the body of POST /sign-byoc-job (timeout_seconds is Go's int). */
const SignBYOCJobRequestInput = goStruct("server.SignBYOCJobRequestInput", {
  id: ["id", goString],
  capability: ["capability", goString],
  request: ["request", goString],
  parameters: ["parameters", goString],
  timeoutSeconds: ["timeout_seconds", goInt],
});

/**
 * Reads the body as the reference's json.NewDecoder(r.Body).Decode does, Go's zero values for
 * absent fields. Throws JsonSyntaxError or JsonTypeError with Go's messages.
 */
export function readSignByocJobJson(body: string): ByocJob {
  const r = readGoStruct(SignBYOCJobRequestInput, parseGoJson(body)) ?? {};
  return {
    id: r.id ?? "",
    capability: r.capability ?? "",
    request: r.request ?? "",
    parameters: r.parameters ?? "",
    timeoutSeconds: r.timeoutSeconds ?? 0n,
  };
}

/** The reference's reply: json.Encoder output, with its newline. */
export function signByocJobReplyJson(senderHex: string, signature: Uint8Array): string {
  return `{"sender":"${senderHex}","signature":"0x${Buffer.from(signature).toString("hex")}"}\n`;
}
