/**
 * KeyBackend for an Ethereum JSON-RPC signer over HTTP(S), in one of two dialects, detected at open:
 *
 * - clef (go-ethereum): `account_list`, then `account_signData("text/plain", address, 0x-data)`.
 *   clef hex-decodes the data, signs keccak256("\x19Ethereum Signed Message:\n" + len + data)
 *   (accounts.TextAndHash) and returns r||s||v with v 27/28.
 * - Web3Signer (eth1 mode): `eth_accounts`, then `eth_sign(address, 0x-data)`, the same EIP-191
 *   personal message.
 *
 * These signers only tell the address, so the public key is recovered at open from a signature of
 * a fixed message, and checked against the account's address.
 *
 * The URL may carry user:password for HTTP basic auth: it goes into the Authorization header and
 * nowhere else; errors name the signer as scheme://host:port only.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { secp256k1 } from "@noble/curves/secp256k1";
import { getAddress } from "ethers/address";
import { fromHex, toHex, utf8 } from "../crypto/bytes.js";
import { personalMessageHash, publicKeyToAddress } from "../crypto/eth-sign.js";
import { type KeyBackend, KeyBackendUnavailableError } from "./key-backend.js";
import { KeyConfigError } from "./load-key.js";

export interface JsonRpcBackendOptions {
  /** http(s)://[user:password@]host:port[/path] */
  url: string;
  /** Which account, when the signer has several. */
  address?: string;
  /** Client certificate and its key (PEM files), for a signer that asks for one. */
  tlsCert?: string;
  tlsKey?: string;
  /** CA file (PEM) that the signer's certificate chains to. */
  ca?: string;
  /** The bound on each call (one signature, the account list). */
  timeoutMs: number;
}

export type JsonRpcDialect = "clef" | "web3signer";

export interface JsonRpcBackend extends KeyBackend {
  readonly dialect: JsonRpcDialect;
  readonly address: string;
}

/** Signed once at open to learn the public key. */
const PROBE_MESSAGE = utf8.encode("lpsigner: public key probe of a JSON-RPC signer");

/** A JSON-RPC error object from the signer (it answered, and said no). */
class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export async function openJsonRpcBackend(opts: JsonRpcBackendOptions): Promise<JsonRpcBackend> {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new KeyConfigError("-ethSignerUrl: not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new KeyConfigError(`-ethSignerUrl: must be http or https, not ${url.protocol}`);
  }
  const secure = url.protocol === "https:";
  const port = url.port || (secure ? "443" : "80");
  const name = `JSON-RPC signer ${url.protocol}//${url.hostname}:${port}`;
  const auth =
    url.username !== "" || url.password !== ""
      ? "Basic " + Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")
      : undefined;
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new KeyConfigError("-ethSignerTlsCert and -ethSignerTlsKey go together");
  }
  if (!secure && (opts.tlsCert !== undefined || opts.ca !== undefined)) {
    throw new KeyConfigError("-ethSignerTlsCert/-ethSignerCa need an https -ethSignerUrl");
  }
  const readPem = (flag: string, file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new KeyConfigError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  // One keep-alive agent: every signature reuses the open connection.
  // Idle connections close after 30 s, before a signer's or proxy's own idle timeout does.
  const agentOptions = { keepAlive: true, maxSockets: 16, timeout: 30_000 };
  const agent = secure
    ? new https.Agent({
        ...agentOptions,
        cert: readPem("-ethSignerTlsCert", opts.tlsCert),
        key: readPem("-ethSignerTlsKey", opts.tlsKey),
        ca: readPem("-ethSignerCa", opts.ca),
      })
    : new http.Agent(agentOptions);
  const request = secure ? https.request : http.request;
  const path = url.pathname + url.search;
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1"); // an IPv6 literal without its brackets
  let nextId = 1;

  /** One JSON-RPC call, bounded by timeoutMs. Transport failures become KeyBackendUnavailableError. */
  function call(method: string, params: unknown[]): Promise<unknown> {
    const body = JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params });
    const headers: http.OutgoingHttpHeaders = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    if (auth) headers.authorization = auth;
    return new Promise((resolve, reject) => {
      let req: http.ClientRequest;
      let done = false;
      const finish = (err: Error | undefined, result?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(result);
      };
      const unavailable = (reason: string) => new KeyBackendUnavailableError(`${name}: ${method}: ${reason}`);
      const timer = setTimeout(() => {
        finish(unavailable(`no answer within ${opts.timeoutMs} ms`));
        req.destroy();
      }, opts.timeoutMs);
      const send = (mayRetry: boolean) => {
        req = request({ host, port, path, method: "POST", agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (err) => finish(unavailable(transportReason(err))));
          res.on("end", () => {
            if (res.statusCode === 401 || res.statusCode === 403) {
              return finish(unavailable(`credentials refused (HTTP ${res.statusCode})`));
            }
            let answer: { result?: unknown; error?: { code?: unknown; message?: unknown } };
            try {
              answer = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof answer;
            } catch {
              return finish(unavailable(`HTTP ${res.statusCode}, not a JSON-RPC answer`));
            }
            if (answer.error) {
              const code = typeof answer.error.code === "number" ? answer.error.code : 0;
              return finish(new RpcError(code, String(answer.error.message ?? "error").slice(0, 200)));
            }
            if (res.statusCode !== 200 || !("result" in answer)) return finish(unavailable(`HTTP ${res.statusCode} without a result`));
            finish(undefined, answer.result);
          });
        });
        req.on("error", (err) => {
          if (done) return;
          // A kept-alive connection that the signer closed while it was idle: once more on a new one.
          if (mayRetry && req.reusedSocket && (err as NodeJS.ErrnoException).code === "ECONNRESET") return send(false);
          finish(unavailable(transportReason(err)));
        });
        req.end(body);
      };
      send(true);
    });
  }

  /** A call whose JSON-RPC error (the signer refusing) is also "unavailable", named as the signer said it. */
  async function callOrUnavailable(method: string, params: unknown[]): Promise<unknown> {
    try {
      return await call(method, params);
    } catch (err) {
      if (err instanceof RpcError) throw new KeyBackendUnavailableError(`${name}: ${method} refused: ${err.message} (code ${err.code})`);
      throw err;
    }
  }

  try {
    // Dialect: clef answers account_list; Web3Signer does not know it (or forwards it to its
    // downstream node, which does not either).
    let dialect: JsonRpcDialect;
    let accounts: unknown;
    try {
      accounts = await call("account_list", []);
      dialect = "clef";
    } catch (err) {
      if (!(err instanceof RpcError)) throw err;
      try {
        accounts = await call("eth_accounts", []);
      } catch (err2) {
        if (err2 instanceof RpcError) {
          throw new KeyConfigError(
            `${name}: neither a clef (account_list: ${err.message}) nor a Web3Signer (eth_accounts: ${err2.message})`,
          );
        }
        throw err2;
      }
      dialect = "web3signer";
    }
    const listed = parseAccounts(accounts);
    if (listed === undefined) throw new KeyBackendUnavailableError(`${name}: the account list is not a list of addresses`);
    const address = pickAccount(name, listed, opts.address);

    const signMethod = dialect === "clef" ? "account_signData" : "eth_sign";
    const signParams = (message: Uint8Array) =>
      dialect === "clef" ? ["text/plain", address, "0x" + toHex(message)] : [address, "0x" + toHex(message)];
    const signPersonal = async (message: Uint8Array): Promise<Uint8Array> => {
      const result = await callOrUnavailable(signMethod, signParams(message));
      const sig = typeof result === "string" && /^0x[0-9a-fA-F]{130}$/.test(result) ? fromHex(result) : undefined;
      if (!sig) throw new KeyBackendUnavailableError(`${name}: ${signMethod} did not return a 65-byte signature`);
      return sig;
    };

    const publicKey = recoverPublicKey(PROBE_MESSAGE, await signPersonal(PROBE_MESSAGE));
    if (!publicKey || getAddress("0x" + toHex(publicKeyToAddress(publicKey))) !== address) {
      throw new KeyConfigError(`${name}: the signature of account ${address} does not recover to that account`);
    }

    return {
      kind: "jsonrpc",
      dialect,
      address,
      publicKey: async () => publicKey.slice(),
      signPersonal,
      async check() {
        const now = parseAccounts(await callOrUnavailable(dialect === "clef" ? "account_list" : "eth_accounts", []));
        if (!now?.includes(address)) throw new KeyBackendUnavailableError(`${name}: account ${address} is no longer listed`);
      },
      async close() {
        agent.destroy();
      },
    };
  } catch (err) {
    agent.destroy();
    if (err instanceof RpcError) throw new KeyBackendUnavailableError(`${name}: ${err.message} (code ${err.code})`);
    throw err;
  }
}

/** Why a request failed, without the URL (Node's messages for some errors include it). */
function transportReason(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "unreachable";
    default:
      return code ? `${code}` : "request failed";
  }
}

function parseAccounts(result: unknown): string[] | undefined {
  if (!Array.isArray(result)) return undefined;
  try {
    return result.map((a) => getAddress(String(a)));
  } catch {
    return undefined;
  }
}

function pickAccount(name: string, listed: string[], wanted: string | undefined): string {
  if (wanted !== undefined && wanted !== "") {
    let want: string;
    try {
      want = getAddress(wanted);
    } catch {
      throw new KeyConfigError(`-ethAcctAddr: not an Ethereum address: ${JSON.stringify(wanted)}`);
    }
    if (!listed.includes(want)) throw new KeyConfigError(`${name}: has no account ${want} (it lists ${listed.length})`);
    return want;
  }
  if (listed.length === 0) throw new KeyConfigError(`${name}: lists no account`);
  if (listed.length > 1) throw new KeyConfigError(`${name}: lists ${listed.length} accounts: pick one with -ethAcctAddr`);
  return listed[0]!;
}

/** The 65-byte public key that made sig (r||s||v, v 27/28 or 0/1) over ethSign(message). */
function recoverPublicKey(message: Uint8Array, sig: Uint8Array): Uint8Array | undefined {
  const v = sig[64]!;
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) return undefined;
  try {
    return secp256k1.Signature.fromCompact(sig.subarray(0, 64))
      .addRecoveryBit(recovery)
      .recoverPublicKey(personalMessageHash(message))
      .toRawBytes(false);
  } catch {
    return undefined;
  }
}
