/**
 * The signing port: where the signer's key lives. Every signature lpsigner makes (tickets,
 * segment credentials, the signed state, the orchestrator-info signature, discovery's requests)
 * goes through one KeyBackend, wrapped by crypto/remote-signer.ts into the EthSigner the payment
 * code uses, which normalizes whatever the backend returns to what go-livepeer's keystore
 * produces: 65 bytes r||s||v, low S, v in {27, 28}, v found by recovery against the backend's
 * public key.
 *
 * What is hashed: lpsigner signs EIP-191 personal messages, ethSign(m) = sign(keccak256(
 * "\x19Ethereum Signed Message:\n" + len(m) + m)). A backend either signs a raw 32-byte digest
 * (PKCS#11 CKM_ECDSA, AWS KMS MessageType=DIGEST): lpsigner hashes and passes the digest; or it
 * adds the prefix itself (clef account_signData text/plain, Web3Signer eth_sign): lpsigner passes
 * m. A backend implements exactly one of signDigest and signPersonal.
 */

export type KeyBackendKind = "keystore" | "pkcs11" | "kms" | "jsonrpc";

export interface KeyBackend {
  readonly kind: KeyBackendKind;
  /** The key's public key, 65 bytes uncompressed (0x04 || X || Y); the address derives from it. */
  publicKey(): Promise<Uint8Array>;
  /**
   * Signs a 32-byte digest. Returns r and s (any S: the caller makes it low); a backend that also
   * knows the recovery id may return it, the caller checks it by recovery either way.
   */
  signDigest?(digest: Uint8Array): Promise<{ r: bigint; s: bigint }>;
  /** Signs the EIP-191 personal message m (the backend adds the prefix and hashes): 65 bytes r||s||v as it returns them. */
  signPersonal?(message: Uint8Array): Promise<Uint8Array>;
  /** Resolves when the backend can sign now (a cheap check, for /readyz); rejects with why not. */
  check(): Promise<void>;
  /** Ends the session or connections. */
  close(): Promise<void>;
}

/**
 * A backend that cannot sign right now (unreachable, timed out, refusing): a payment fails as
 * unavailable (legacy 503, Connect UNAVAILABLE) with nothing returned. Messages name the backend
 * and the reason, never a secret (PIN, credential, key material).
 */
export class KeyBackendUnavailableError extends Error {
  override name = "KeyBackendUnavailableError";
}
