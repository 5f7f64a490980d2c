/**
 * PKCS#11 key backend: the key is a secp256k1 EC private key on a token (an HSM, SoftHSM2),
 * found by token label and key label or id; lpsigner passes the 32-byte digest and the token
 * signs it with CKM_ECDSA (r||s, randomized). The public key is the matching public key
 * object's CKA_EC_POINT.
 *
 * One session per backend, one operation at a time on it (a PKCS#11 session runs one signing
 * operation at a time). C_Sign runs on libuv's thread pool (pkcs11js's C_SignAsync), so the
 * event loop is not held by the token; the other calls are quick and synchronous. After a
 * failure the session is dropped and the next call opens a new one, re-initializing the module
 * when needed (SoftHSM2 and some network HSM clients only see a token again after
 * C_Finalize/C_Initialize), so an outage recovers without a restart. A wrong PIN is never
 * retried: HSMs lock the PIN after a few wrong tries.
 *
 * The addon (pkcs11js, an optional dependency with a native build) is loaded only when this
 * backend is used. The PIN never appears in an error.
 */
import { createRequire } from "node:module";
import { endianness } from "node:os";
import { KeyBackendUnavailableError, type KeyBackend } from "./key-backend.js";

export interface Pkcs11BackendOptions {
  /** Path to the PKCS#11 module (.so), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  tokenLabel: string;
  /** The key's CKA_LABEL; give this or keyId. */
  keyLabel?: string;
  /** The key's CKA_ID, hex (with or without 0x). */
  keyId?: string;
  pin: string;
  /** One signature's bound (the queue wait included). */
  timeoutMs: number;
  /** Least time between two attempts to reopen the session during an outage (default 1000 ms). */
  retryMs?: number;
}

// The few pkcs11js calls used here, typed locally so the project type-checks without the addon.
type Handle = Buffer;
interface Attr {
  type: number;
  value?: number | boolean | string | Buffer;
}
interface Pkcs11Lib {
  load(path: string): void;
  C_Initialize(opts?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): { label: string };
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Attr[]): void;
  C_FindObjects(session: Handle, max: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Attr[]): Attr[];
  C_SignInit(session: Handle, mechanism: { mechanism: number }, key: Handle): void;
  C_SignAsync(session: Handle, data: Buffer, out: Buffer): Promise<Buffer>;
}
interface Pkcs11Js {
  PKCS11: new () => Pkcs11Lib;
  [constant: string]: unknown;
}

/** DER of OID 1.3.132.0.10 (secp256k1), the CKA_EC_PARAMS of a secp256k1 key. */
const SECP256K1_EC_PARAMS = Buffer.from("06052b8104000a", "hex");

/** CKR_ codes that mean the PIN is wrong or unusable: never retried. */
const PIN_ERRORS = new Set(["CKR_PIN_INCORRECT", "CKR_PIN_LOCKED", "CKR_PIN_EXPIRED", "CKR_PIN_INVALID", "CKR_PIN_LEN_RANGE"]);

let addon: Pkcs11Js | undefined;
function loadAddon(): Pkcs11Js {
  if (!addon) {
    try {
      addon = createRequire(import.meta.url)("pkcs11js") as Pkcs11Js;
    } catch {
      throw new Error(
        "pkcs11 key backend: the pkcs11js addon is not installed (npm install pkcs11js, which builds with a C++ compiler, make and python3; approve its build with npm install-scripts approve pkcs11js)",
      );
    }
  }
  return addon;
}

/**
 * A module is initialized once per process (C_Initialize is process-wide), shared by every
 * backend on it. `generation` counts re-initializations: a session from an earlier one is gone.
 */
interface SharedModule {
  lib: Pkcs11Lib;
  initialized: boolean;
  generation: number;
  users: number;
}
const modules = new Map<string, SharedModule>();

function errorCode(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split("\n")[0]!;
}

/** A CK_ULONG attribute value (host byte order, as the module wrote it). */
function readUlong(value: Buffer): number {
  if (value.length === 8) return Number(endianness() === "LE" ? value.readBigUInt64LE() : value.readBigUInt64BE());
  return endianness() === "LE" ? value.readUInt32LE() : value.readUInt32BE();
}

export async function openPkcs11Backend(opts: Pkcs11BackendOptions): Promise<KeyBackend> {
  const p = loadAddon();
  const c = (name: string) => p[name] as number;
  const { module: modulePath, tokenLabel, pin, timeoutMs } = opts;
  const retryMs = opts.retryMs ?? 1000;
  if (!opts.keyLabel === !opts.keyId) throw new Error("pkcs11 key backend: give exactly one of a key label and a key id");
  const keyId = opts.keyId ? Buffer.from(opts.keyId.replace(/^0x/i, ""), "hex") : undefined;
  if (opts.keyId && (!/^(0x)?([0-9a-f]{2})+$/i.test(opts.keyId) || !keyId?.length)) throw new Error("pkcs11 key backend: the key id must be hex");
  const keyName = opts.keyLabel !== undefined ? `labelled "${opts.keyLabel}"` : `with id ${keyId!.toString("hex")}`;

  /** A message safe to show: one line, and the PIN cut out should a module ever echo it. */
  const safe = (msg: string) => (pin.length >= 4 ? msg.split(pin).join("***") : msg).split("\n")[0]!;
  const fail = (msg: string) => new Error(safe(`pkcs11 key backend: ${msg}`));
  /** Ours already say what failed; a bare CKR_ code from the module gets the token's name. */
  const explain = (err: unknown) => {
    const msg = errorCode(err);
    return safe(msg.startsWith("pkcs11 key backend:") ? msg : `pkcs11 key backend: token "${tokenLabel}": ${msg}`);
  };

  let shared = modules.get(modulePath);
  if (!shared) {
    const lib = new p.PKCS11();
    try {
      lib.load(modulePath);
    } catch (err) {
      throw fail(`cannot load module ${modulePath}: ${errorCode(err)}`);
    }
    shared = { lib, initialized: false, generation: 0, users: 0 };
    modules.set(modulePath, shared);
  }
  const mod = shared;
  const lib = mod.lib;
  mod.users++;

  function initialize(): void {
    if (mod.initialized) return;
    try {
      // OS locking: C_Sign runs on a pool thread while other calls may run on the main one.
      lib.C_Initialize({ flags: c("CKF_OS_LOCKING_OK") });
    } catch (err) {
      if (errorCode(err) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") throw fail(`module initialization failed: ${errorCode(err)}`);
    }
    mod.initialized = true;
    mod.generation++;
  }

  /** The last backend on a module finalizes it. */
  function releaseModule(): void {
    if (--mod.users > 0 || !mod.initialized) return;
    try {
      lib.C_Finalize();
    } catch {
      // nothing left to end
    }
    mod.initialized = false;
  }

  function reinitialize(): void {
    if (mod.initialized) {
      try {
        lib.C_Finalize();
      } catch {
        // already gone
      }
      mod.initialized = false;
    }
    initialize();
  }

  function findOne(session: Handle, cls: string): Handle | undefined {
    const template: Attr[] = [{ type: c("CKA_CLASS"), value: c(cls) }];
    if (opts.keyLabel !== undefined) template.push({ type: c("CKA_LABEL"), value: opts.keyLabel });
    else template.push({ type: c("CKA_ID"), value: keyId! });
    lib.C_FindObjectsInit(session, template);
    try {
      const found = lib.C_FindObjects(session, 2);
      if (found.length > 1) throw fail(`several ${cls === "CKO_PRIVATE_KEY" ? "private" : "public"} keys ${keyName} on token "${tokenLabel}": give the key id`);
      return found[0];
    } finally {
      lib.C_FindObjectsFinal(session);
    }
  }

  interface Session {
    handle: Handle;
    key: Handle;
    generation: number;
  }
  let session: Session | undefined;
  let publicKey: Uint8Array | undefined;
  /** Set by a wrong PIN: later calls fail with it instead of trying the PIN again. */
  let fatal: Error | undefined;
  let lastAttempt = 0;
  let lastError: Error | undefined;
  let closed = false;

  /** Opens a session, logs in and finds the key (and, the first time, the public key). */
  function openSession(): Session {
    initialize();
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === tokenLabel);
    if (slot === undefined) throw fail(`no token labelled "${tokenLabel}" in ${modulePath}`);
    const handle = lib.C_OpenSession(slot, c("CKF_SERIAL_SESSION"));
    try {
      try {
        lib.C_Login(handle, c("CKU_USER"), pin);
      } catch (err) {
        const code = errorCode(err);
        if (PIN_ERRORS.has(code)) {
          fatal = fail(`login to token "${tokenLabel}" refused: ${code === "CKR_PIN_INCORRECT" ? "wrong PIN" : "PIN not usable"} (${code})`);
          throw fatal;
        }
        if (code !== "CKR_USER_ALREADY_LOGGED_IN") throw fail(`login to token "${tokenLabel}" failed: ${code}`);
      }
      const key = findOne(handle, "CKO_PRIVATE_KEY");
      if (!key) throw fail(`no private key ${keyName} on token "${tokenLabel}"`);
      if (!publicKey) publicKey = readPublicKey(handle, key);
      return { handle, key, generation: mod.generation };
    } catch (err) {
      try {
        lib.C_CloseSession(handle);
      } catch {
        // the session is gone anyway
      }
      throw err;
    }
  }

  function readPublicKey(handle: Handle, key: Handle): Uint8Array {
    const [type, params] = lib.C_GetAttributeValue(handle, key, [{ type: c("CKA_KEY_TYPE") }, { type: c("CKA_EC_PARAMS") }]);
    const keyType = type?.value as Buffer | undefined;
    if (!keyType || readUlong(keyType) !== c("CKK_EC")) throw fail(`the key ${keyName} is not an EC key`);
    if (!SECP256K1_EC_PARAMS.equals(params?.value as Buffer)) throw fail(`the key ${keyName} is not on secp256k1 (CKA_EC_PARAMS is not OID 1.3.132.0.10)`);
    const pub = findOne(handle, "CKO_PUBLIC_KEY");
    if (!pub) {
      throw fail(`token "${tokenLabel}" has no public key object ${keyName} (the private key's public half is needed for the address: import it with the same label and id)`);
    }
    const [point] = lib.C_GetAttributeValue(handle, pub, [{ type: c("CKA_EC_POINT") }]);
    return decodeEcPoint(point?.value as Buffer, fail);
  }

  function dropSession(): void {
    if (session && session.generation === mod.generation) {
      try {
        lib.C_CloseSession(session.handle);
      } catch {
        // already invalid
      }
    }
    session = undefined;
  }

  /** The session to use now: the current one, or a new one (at most one attempt per retryMs). */
  function currentSession(): Session {
    if (fatal) throw fatal;
    if (closed) throw new KeyBackendUnavailableError("pkcs11 key backend: closed");
    if (session && session.generation === mod.generation) return session;
    session = undefined;
    const now = Date.now();
    if (lastError && now - lastAttempt < retryMs) throw lastError;
    lastAttempt = now;
    try {
      try {
        session = openSession();
      } catch (err) {
        if (fatal) throw err;
        // A token that went away and came back is often seen only after re-initializing.
        reinitialize();
        session = openSession();
      }
      lastError = undefined;
      return session;
    } catch (err) {
      // A wrong PIN stays what it is; anything else is an outage until it is not.
      lastError = fatal ?? new KeyBackendUnavailableError(explain(err));
      throw lastError;
    }
  }

  // One operation at a time on the session; each caller waits at most timeoutMs in all.
  let tail: Promise<unknown> = Promise.resolve();
  function enqueue<T>(op: (s: Session) => Promise<T>): Promise<T> {
    let timedOut = false;
    const run = tail.then(async () => {
      if (timedOut) throw new KeyBackendUnavailableError("pkcs11 key backend: timed out waiting");
      const s = currentSession();
      try {
        return await op(s);
      } catch (err) {
        if (s === session) dropSession();
        throw new KeyBackendUnavailableError(explain(err));
      }
    });
    tail = run.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new KeyBackendUnavailableError(`pkcs11 key backend: token "${tokenLabel}" did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
  }

  async function sign(s: Session, digest: Uint8Array): Promise<{ r: bigint; s: bigint }> {
    lib.C_SignInit(s.handle, { mechanism: c("CKM_ECDSA") }, s.key);
    const out = await lib.C_SignAsync(s.handle, Buffer.from(digest), Buffer.alloc(64));
    if (out.length !== 64) throw new Error(`CKM_ECDSA returned ${out.length} bytes, not 64`);
    return { r: BigInt("0x" + out.subarray(0, 32).toString("hex")), s: BigInt("0x" + out.subarray(32).toString("hex")) };
  }

  // Open now, so a wrong PIN, token or key fails at start with its own message.
  try {
    session = openSession();
  } catch (err) {
    releaseModule();
    throw new Error(explain(err));
  }
  const checkDigest = new Uint8Array(32).fill(1);

  return {
    kind: "pkcs11",
    publicKey: async () => publicKey!,
    signDigest(digest) {
      if (digest.length !== 32) return Promise.reject(new Error("pkcs11 key backend: the digest must be 32 bytes"));
      return enqueue((s) => sign(s, digest));
    },
    // A real signature: the only call that proves the token, the login and the key all work.
    check: () => enqueue((s) => sign(s, checkDigest)).then(() => undefined),
    async close() {
      if (closed) return;
      closed = true;
      // A call stuck in the module keeps its session: wait for it, but not forever.
      await Promise.race([tail, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
      dropSession();
      releaseModule();
    },
  };
}

/** CKA_EC_POINT: a DER OCTET STRING around 0x04 || X || Y (some modules give the raw point). */
function decodeEcPoint(value: Buffer | undefined, fail: (m: string) => Error): Uint8Array {
  if (value?.length === 67 && value[0] === 0x04 && value[1] === 65 && value[2] === 0x04) return new Uint8Array(value.subarray(2));
  if (value?.length === 65 && value[0] === 0x04) return new Uint8Array(value);
  throw fail("the public key object's CKA_EC_POINT is not an uncompressed secp256k1 point");
}
