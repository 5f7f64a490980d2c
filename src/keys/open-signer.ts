/**
 * The signer for a configured key: in this process (keystore, the dev chain's throwaway key) or
 * behind a KeyBackend (PKCS#11, AWS KMS, a JSON-RPC signer). A backend's module, and its library,
 * is loaded only when it is configured, so a keystore signer never loads an HSM binding or an SDK.
 */
import type { KeySource } from "../config.js";
import { ConfigError } from "../config/errors.js";
import { createRemoteEthSigner, type RemoteEthSigner } from "../crypto/remote-signer.js";
import { StartupError } from "../startup.js";
import type { KeyBackend } from "./key-backend.js";

/** A backend that cannot open is a start-up failure of one line (the operator's mistake stays a ConfigError, exit 2). */
function asStartupError(err: unknown): Error {
  if (err instanceof ConfigError || err instanceof StartupError) return err;
  return new StartupError(err instanceof Error ? err.message : String(err));
}

export type RemoteKeySource = Extract<KeySource, { kind: "pkcs11" | "kms" | "jsonrpc" }>;

export function isRemoteKey(key: KeySource): key is RemoteKeySource {
  return key.kind === "pkcs11" || key.kind === "kms" || key.kind === "jsonrpc";
}

async function openBackend(key: RemoteKeySource): Promise<KeyBackend> {
  switch (key.kind) {
    case "pkcs11": {
      const { openPkcs11Backend } = await import("./pkcs11-backend.js");
      return openPkcs11Backend({
        module: key.module,
        tokenLabel: key.tokenLabel,
        ...(key.keyLabel ? { keyLabel: key.keyLabel } : { keyId: key.keyId }),
        pin: key.pin,
        timeoutMs: key.timeoutMs,
      });
    }
    case "kms": {
      const { openKmsBackend } = await import("./kms-backend.js");
      return openKmsBackend({ keyId: key.keyId, region: key.region, ...(key.endpoint ? { endpoint: key.endpoint } : {}), timeoutMs: key.timeoutMs });
    }
    case "jsonrpc": {
      const { openJsonRpcBackend } = await import("./jsonrpc-backend.js");
      return openJsonRpcBackend({
        url: key.url,
        ...(key.address ? { address: key.address } : {}),
        ...(key.tlsCert ? { tlsCert: key.tlsCert, tlsKey: key.tlsKey } : {}),
        ...(key.ca ? { ca: key.ca } : {}),
        timeoutMs: key.timeoutMs,
      });
    }
  }
}

/**
 * Opens the backend, derives the address from its public key and runs the sign-and-recover
 * self-test; -ethAcctAddr, when given, must be that address. Failures are one line for the
 * operator: what is wrong, never a PIN, credential or key.
 */
export async function openRemoteSigner(key: RemoteKeySource): Promise<RemoteEthSigner> {
  const backend = await openBackend(key).catch((err: unknown) => {
    throw asStartupError(err);
  });
  let signer: RemoteEthSigner;
  try {
    signer = await createRemoteEthSigner(backend, { timeoutMs: key.timeoutMs });
  } catch (err) {
    await backend.close().catch(() => {});
    throw asStartupError(err);
  }
  if (key.address !== "" && key.address.toLowerCase() !== signer.addressHex.toLowerCase()) {
    await signer.close().catch(() => {});
    throw new ConfigError(`-ethAcctAddr ${key.address} is not the ${key.kind} key's address (${signer.addressHex})`);
  }
  return signer;
}
