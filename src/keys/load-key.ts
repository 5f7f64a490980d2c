import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { getAddress } from "ethers/address";
import { ConfigError } from "../config/errors.js";
import { fromHex } from "../crypto/bytes.js";

export class KeyConfigError extends ConfigError {
  override name = "KeyConfigError";
}

/**
 * -ethPassword is a password or a path to a file holding it, as the reference accepts. A value
 * that looks like a path (has a "/", or starts with "~" or ".") but names nothing is a mistake
 * (a typo, an unexpanded ~, a missing Secret mount), not a password.
 */
export function resolvePassword(value: string): string {
  if (value !== "" && existsSync(value) && statSync(value).isFile()) {
    return readFileSync(value, "utf8").replace(/\r?\n$/, "");
  }
  if (/\/|^[~.]/.test(value) && !existsSync(value)) {
    // The value is not quoted: it might be a password after all.
    throw new KeyConfigError("-ethPassword looks like a file path, but no such file exists; give an existing file or the password itself");
  }
  return value;
}

function keystoreAddress(json: string): string | undefined {
  try {
    const a = (JSON.parse(json) as { address?: unknown }).address;
    return typeof a === "string" ? getAddress(a.startsWith("0x") ? a : "0x" + a) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Loads a go-ethereum keystore key: -ethKeystorePath is a key file or a keystore directory;
 * in a directory, -ethAcctAddr picks the key (required when there are several).
 * Decrypted once, at start. The returned key must never be logged.
 */
export async function loadKeystoreKey(opts: { path: string; address: string; password: string }): Promise<Uint8Array> {
  if (!existsSync(opts.path)) throw new KeyConfigError(`-ethKeystorePath: ${opts.path} does not exist`);
  let want: string | undefined;
  if (opts.address !== "") {
    try {
      want = getAddress(opts.address);
    } catch {
      throw new KeyConfigError(`-ethAcctAddr: not an Ethereum address: ${JSON.stringify(opts.address)}`);
    }
  }
  let candidates: { file: string; json: string; address: string | undefined }[];
  if (statSync(opts.path).isDirectory()) {
    candidates = readdirSync(opts.path)
      .map((name) => join(opts.path, name))
      .filter((file) => statSync(file).isFile())
      .map((file) => {
        const json = readFileSync(file, "utf8");
        return { file, json, address: keystoreAddress(json) };
      })
      .filter((c) => c.address !== undefined);
  } else {
    const json = readFileSync(opts.path, "utf8");
    candidates = [{ file: opts.path, json, address: keystoreAddress(json) }];
  }
  const matching = want ? candidates.filter((c) => c.address === want) : candidates;
  if (matching.length === 0) {
    throw new KeyConfigError(
      want ? `-ethKeystorePath: no key for ${want} in ${opts.path}` : `-ethKeystorePath: no keystore key found in ${opts.path}`,
    );
  }
  if (matching.length > 1) throw new KeyConfigError(`-ethKeystorePath: several keys in ${opts.path}; choose one with -ethAcctAddr`);
  try {
    // Loaded here, once: a signer never needs ethers' wallets (and the providers they import) after start.
    const { Wallet } = await import("ethers/wallet");
    const wallet = await Wallet.fromEncryptedJson(matching[0]!.json, opts.password);
    return fromHex(wallet.privateKey);
  } catch {
    // The cause may quote key material; say only what failed.
    throw new KeyConfigError(`-ethPassword: cannot decrypt the keystore key in ${matching[0]!.file} (wrong password?)`);
  }
}

/** A raw hex key for development only (LPSIGNER_UNSAFE_DEV_PRIVATE_KEY). */
export function parseRawKey(hex: string): Uint8Array {
  try {
    const key = fromHex(hex.trim());
    if (key.length !== 32) throw new Error();
    return key;
  } catch {
    throw new KeyConfigError("LPSIGNER_UNSAFE_DEV_PRIVATE_KEY must be 32 bytes of hex");
  }
}
