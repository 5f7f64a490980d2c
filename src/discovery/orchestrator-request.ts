import { create } from "@bufbuild/protobuf";
import { type OrchestratorRequest, OrchestratorRequestSchema } from "../../gen/net/lp_rpc_pb.js";
import { signOrchestratorInfo, type EthSigner } from "../crypto/eth-sign.js";

/**
 * The request a gateway sends to GetOrchestrator: the signer's address and
 * ethSign(keccak256(utf8(checksummed address))) (core/broadcaster.go Sign over the address's Hex()).
 * `ignoreCapacityCheck` is set as the reference's remote-signer pools set it.
 */
export function createOrchestratorRequest(signer: RequestSigner, ignoreCapacityCheck = true): OrchestratorRequest {
  return create(OrchestratorRequestSchema, {
    address: signer.address,
    sig: "orchInfoSignature" in signer ? signer.orchInfoSignature : signOrchestratorInfo(signer),
    ignoreCapacityCheck,
  });
}

/** A key in this process, or a remote key's orchestrator-info signature, made once at start. */
export type RequestSigner = Pick<EthSigner, "address" | "addressHex" | "sign"> | { address: Uint8Array; orchInfoSignature: Uint8Array };
