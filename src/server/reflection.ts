/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) from the generated descriptors, so
 * `buf curl --list-services`, `buf curl` without `--schema` and `grpcurl` work against the port.
 * No npm package serves reflection for Connect routers; the protocol is small: list services,
 * and hand out serialized FileDescriptorProtos by file name or by symbol.
 */
import { createRegistry, toBinary, type DescFile, type DescService, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** A request of either protocol version (they differ only in message type names). */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** Every file the services need, dependencies first (what a client must load to use them). */
function filesOf(services: DescService[]): Map<string, DescFile> {
  const files = new Map<string, DescFile>();
  const add = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    for (const dep of file.dependencies) add(dep);
    files.set(file.proto.name, file); // DescFile.name drops ".proto"
  };
  for (const s of services) add(s.file);
  return files;
}

/** The file that declares a fully qualified symbol: a service, method, message, enum or extension. */
function fileOfSymbol(registry: Registry, symbol: string): DescFile | undefined {
  const desc = registry.get(symbol);
  if (desc) return desc.file;
  const dot = symbol.lastIndexOf(".");
  const service = dot > 0 ? registry.getService(symbol.slice(0, dot)) : undefined;
  return service?.methods.some((m) => m.name === symbol.slice(dot + 1)) ? service.file : undefined;
}

/** Answers one reflection stream. */
function createResponder(services: DescService[]) {
  const files = filesOf(services);
  const registry = createRegistry(...files.values());
  const names = services.map((s) => s.typeName);
  return () => {
    const sent = new Set<string>();
    // The file asked for always, its dependencies only if not yet sent (as grpc-go), dependencies first.
    const withDependencies = (file: DescFile): Uint8Array[] => {
      const out: Uint8Array[] = [];
      const visit = (f: DescFile, always: boolean) => {
        if (sent.has(f.proto.name) && !always) return;
        sent.add(f.proto.name);
        for (const dep of f.dependencies) visit(dep, false);
        out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      };
      visit(file, true);
      return out;
    };
    const notFound = (what: string) => ({
      case: "errorResponse" as const,
      value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
    });
    return (req: ReflectionRequest) => {
      const r = req.messageRequest;
      const answer = (() => {
        switch (r.case) {
          case "listServices":
            return { case: "listServicesResponse" as const, value: { service: names.map((name) => ({ name })) } };
          case "fileByFilename": {
            const file = files.get(r.value);
            if (!file) return notFound(`file ${JSON.stringify(r.value)}`);
            return { case: "fileDescriptorResponse" as const, value: { fileDescriptorProto: withDependencies(file) } };
          }
          case "fileContainingSymbol": {
            const file = fileOfSymbol(registry, r.value);
            if (!file) return notFound(`symbol ${JSON.stringify(r.value)}`);
            return { case: "fileDescriptorResponse" as const, value: { fileDescriptorProto: withDependencies(file) } };
          }
          case "fileContainingExtension":
            // None of lpsigner's files declare extensions.
            return notFound(`extension ${r.value.extensionNumber} of ${JSON.stringify(r.value.containingType)}`);
          case "allExtensionNumbersOfType":
            if (registry.getMessage(r.value) === undefined) return notFound(`type ${JSON.stringify(r.value)}`);
            return { case: "allExtensionNumbersResponse" as const, value: { baseTypeName: r.value, extensionNumber: [] } };
          default:
            return {
              case: "errorResponse" as const,
              value: { errorCode: Code.InvalidArgument, errorMessage: "message_request: no request kind set" },
            };
        }
      })();
      // A plain copy, so one answer fits both versions' message types.
      const originalRequest = {
        host: req.host,
        messageRequest:
          r.case === "fileContainingExtension"
            ? { case: r.case, value: { containingType: r.value.containingType, extensionNumber: r.value.extensionNumber } }
            : r,
      };
      return { validHost: req.host, originalRequest, messageResponse: answer };
    };
  };
}

/** Registers grpc.reflection.v1 and v1alpha describing `services` (the reflection services are added). */
export function reflectionRoutes(services: DescService[]) {
  const all = [...services, v1.ServerReflection, v1alpha.ServerReflection];
  const newStream = createResponder(all);
  return (router: ConnectRouter) => {
    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        const respond = newStream();
        for await (const req of requests) yield respond(req);
      },
    });
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        const respond = newStream();
        for await (const req of requests) yield respond(req);
      },
    });
  };
}
