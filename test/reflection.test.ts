/**
 * gRPC server reflection: buf curl lists the services and calls one without --schema; a generated
 * client drives both protocol versions and gets descriptors that rebuild the real schema.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { startTestServer, type RunningTestServer } from "./support/net-server.js";

const execFileAsync = promisify(execFile);
let srv: RunningTestServer;

beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv?.close();
});

const SERVICES = [
  "livepeer.signer.v1.SignerService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

describe("buf curl with reflection (no --schema)", () => {
  test("--list-services lists SignerService, Health and Reflection", async () => {
    const { stdout } = await execFileAsync("npx", ["buf", "curl", "--list-services", "--http2-prior-knowledge", srv.url]);
    expect(stdout.trim().split("\n").sort()).toEqual([...SERVICES].sort());
  });

  test("--list-methods and a call without --schema", async () => {
    const methods = await execFileAsync("npx", ["buf", "curl", "--list-methods", "--http2-prior-knowledge", srv.url]);
    expect(methods.stdout).toContain("livepeer.signer.v1.SignerService/GenerateLivePayment");
    const { stdout } = await execFileAsync("npx", [
      "buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge",
      `${srv.url}/livepeer.signer.v1.SignerService/SignOrchestratorInfo`,
    ]);
    const out = JSON.parse(stdout) as { addressHex: string; signature: string };
    expect(out.addressHex).toBe(srv.signer.addressHex);
    expect(Buffer.from(out.signature, "base64")).toHaveLength(65);
  });
});

// Installed by scripts/clients-tools.sh (CI runs it before the tests).
const grpcurl = new URL("../.tools/bin/grpcurl", import.meta.url).pathname;
if (!existsSync(grpcurl)) console.warn("SKIPPED: the grpcurl reflection test needs .tools/bin/grpcurl (npm run tools:clients)");

describe.skipIf(!existsSync(grpcurl))("grpcurl with reflection", () => {
  test("lists the services, describes a message and calls a method", async () => {
    const host = srv.url.replace("http://", "");
    const list = await execFileAsync(grpcurl, ["-plaintext", host, "list"]);
    expect(list.stdout.trim().split("\n").sort()).toEqual([...SERVICES].sort());
    const described = await execFileAsync(grpcurl, ["-plaintext", host, "describe", "net.OrchestratorInfo"]);
    expect(described.stdout).toContain(".net.TicketParams ticket_params = 2;");
    const call = await execFileAsync(grpcurl, ["-plaintext", host, "livepeer.signer.v1.SignerService/SignOrchestratorInfo"]);
    expect((JSON.parse(call.stdout) as { addressHex: string }).addressHex).toBe(srv.signer.addressHex);
  });
});

describe("the reflection protocol", () => {
  const ask = async <R>(call: (requests: AsyncIterable<never>) => AsyncIterable<R>, reqs: object[]): Promise<R[]> => {
    async function* gen() {
      for (const r of reqs) yield r as never;
    }
    const out: R[] = [];
    for await (const res of call(gen())) out.push(res);
    return out;
  };

  test("v1: a symbol's file comes with its dependencies (once per stream), enough to rebuild the schema", async () => {
    const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl: srv.url }));
    const [first, again, method] = await ask((r) => client.serverReflectionInfo(r), [
      { messageRequest: { case: "fileContainingSymbol", value: "livepeer.signer.v1.SignerService" } },
      { messageRequest: { case: "fileByFilename", value: "net/lp_rpc.proto" } },
      { messageRequest: { case: "fileContainingSymbol", value: "livepeer.signer.v1.SignerService.GenerateLivePayment" } },
    ]);
    expect(first!.messageResponse.case).toBe("fileDescriptorResponse");
    const files = (first!.messageResponse.value as v1.FileDescriptorResponse).fileDescriptorProto.map((b) =>
      fromBinary(FileDescriptorProtoSchema, b),
    );
    expect(files.map((f) => f.name).sort()).toEqual(
      ["google/protobuf/struct.proto", "google/protobuf/timestamp.proto", "livepeer/signer/v1/signer.proto", "net/lp_rpc.proto"],
    );
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
    const service = registry.getService("livepeer.signer.v1.SignerService");
    expect(service?.methods.map((m) => m.name)).toContain("GenerateLivePayment");
    expect(registry.getMessage("net.OrchestratorInfo")?.fields.find((f) => f.name === "ticket_params")?.number).toBe(2);
    // The file asked for is sent again; its dependencies, already sent on this stream, are not.
    const names = (r: v1.ServerReflectionResponse | undefined) =>
      (r!.messageResponse.value as v1.FileDescriptorResponse).fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
    expect(names(again)).toEqual(["net/lp_rpc.proto"]);
    expect(names(method)).toEqual(["livepeer/signer/v1/signer.proto"]);
  });

  test("v1alpha answers the same; unknown names are NOT_FOUND errors on the stream, not failures", async () => {
    const client = createClient(v1alpha.ServerReflection, createGrpcTransport({ baseUrl: srv.url }));
    const [list, missing, ext, noKind] = await ask((r) => client.serverReflectionInfo(r), [
      { host: "h", messageRequest: { case: "listServices", value: "" } },
      { messageRequest: { case: "fileContainingSymbol", value: "no.such.Thing" } },
      { messageRequest: { case: "fileContainingExtension", value: { containingType: "net.Payment", extensionNumber: 99 } } },
      {},
    ]);
    expect(list!.validHost).toBe("h");
    expect((list!.messageResponse.value as v1alpha.ListServiceResponse).service.map((s) => s.name).sort()).toEqual([...SERVICES].sort());
    expect(missing!.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
    expect((missing!.messageResponse.value as v1alpha.ErrorResponse).errorMessage).toContain("no.such.Thing");
    expect(ext!.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
    expect(ext!.originalRequest?.messageRequest).toMatchObject({ case: "fileContainingExtension", value: { extensionNumber: 99 } });
    expect(noKind!.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 3 } });
  });
});
