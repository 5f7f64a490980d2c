// A throwaway SoftHSM2 token for the PKCS#11 backend's tests: its own config and token
// directory under a temp dir, with a known secp256k1 key imported (private and public objects).
import { execFileSync } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secp256k1 } from "@noble/curves/secp256k1";

export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";

/** Why the SoftHSM2 tests cannot run here, or undefined when they can. */
export function softhsmMissing(): string | undefined {
  if (!existsSync(SOFTHSM_MODULE)) return `${SOFTHSM_MODULE} (apt-get install softhsm2)`;
  // python3 holds fcntl locks for the stuck-token test (and builds pkcs11js anyway).
  for (const [tool, pkg] of [["softhsm2-util", "softhsm2"], ["pkcs11-tool", "opensc"], ["python3", "python3"]]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      return `${tool} (apt-get install ${pkg})`;
    }
  }
  try {
    createRequire(import.meta.url)("pkcs11js");
  } catch {
    return "the pkcs11js addon (npm install; it builds with gcc, make and python3)";
  }
  return undefined;
}

/** PKCS#8 PEM of a raw secp256k1 private key (what softhsm2-util --import reads). */
export function secp256k1Pem(privateKey: Uint8Array): string {
  const pub = secp256k1.getPublicKey(privateKey, false);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");
  const jwk = { kty: "EC", crv: "secp256k1", d: b64(privateKey), x: b64(pub.subarray(1, 33)), y: b64(pub.subarray(33)) };
  return createPrivateKey({ key: jwk, format: "jwk" }).export({ type: "pkcs8", format: "pem" }) as string;
}

export interface SoftHsm {
  dir: string;
  tokenDir: string;
  tokenLabel: string;
  pin: string;
  /** Imports a key pair (softhsm2-util writes the private and the public object). */
  importKey(privateKey: Uint8Array, label: string, idHex: string): void;
  /** Runs pkcs11-tool logged in to the token. */
  tool(args: string[]): string;
  remove(): void;
}

/** Makes the token; sets SOFTHSM2_CONF for this process (SoftHSM2 reads it at C_Initialize). */
export function createSoftHsm(tokenLabel: string, pin: string): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), "lpsigner-softhsm-"));
  const tokenDir = join(dir, "tokens");
  mkdirSync(tokenDir);
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 });
  run("softhsm2-util", ["--init-token", "--free", "--label", tokenLabel, "--pin", pin, "--so-pin", "so-" + pin]);
  return {
    dir,
    tokenDir,
    tokenLabel,
    pin,
    importKey(privateKey, label, idHex) {
      const pem = join(dir, `${label}.pem`);
      writeFileSync(pem, secp256k1Pem(privateKey), { mode: 0o600 });
      try {
        run("softhsm2-util", ["--import", pem, "--token", tokenLabel, "--label", label, "--id", idHex, "--pin", pin]);
      } finally {
        rmSync(pem);
      }
    },
    tool: (args) => run("pkcs11-tool", ["--module", SOFTHSM_MODULE, "--token-label", tokenLabel, "--login", "--pin", pin, ...args]),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
