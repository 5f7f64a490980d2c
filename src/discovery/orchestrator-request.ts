import { create } from "@bufbuild/protobuf";
import { type OrchestratorRequest, OrchestratorRequestSchema } from "../../gen/net/lp_rpc_pb.js";
import { signOrchestratorInfo, type EthSigner } from "../crypto/eth-sign.js";

/**
 * The request a gateway sends to GetOrchestrator: the signer's address and
 * ethSign(keccak256(utf8(checksummed address))) (core/broadcaster.go Sign over the address's Hex()).
 * `ignoreCapacityCheck` is set as the reference's remote-signer pools set it.
 */
export function createOrchestratorRequest(signer: Pick<EthSigner, "address" | "addressHex" | "sign">, ignoreCapacityCheck = true): OrchestratorRequest {
  return create(OrchestratorRequestSchema, {
    address: signer.address,
    sig: signOrchestratorInfo(signer),
    ignoreCapacityCheck,
  });
}
