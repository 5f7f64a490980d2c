/**
 * PKCS#11 key backend: the key is a secp256k1 EC private key on a token (an HSM, SoftHSM2),
 * found by token label and key label or id; lpsigner passes the 32-byte digest and the token
 * signs it with CKM_ECDSA (r||s, randomized). The public key is the matching public key
 * object's CKA_EC_POINT.
 *
 * A few sessions per backend (`sessions`, default 2), each on its own worker thread, one
 * operation at a time on each (a PKCS#11 session runs one signing operation at a time), so
 * concurrent signatures run in parallel; calls wait in one queue for the first free session. The
 * module is initialized once per process and the token logged in once (PKCS#11's login state
 * belongs to the token, shared by all of the process's sessions on it). Every call into the
 * module runs on a worker thread: they all block (pkcs11js's C_SignAsync covers C_Sign only,
 * and SoftHSM2's C_SignInit waits on its file locks), and the event loop must not, so a stuck
 * token costs a timeout, not the process. After a failure the session is dropped and the next
 * call on it opens a new one, re-initializing the module when needed (SoftHSM2 and some network
 * HSM clients only see a token again after C_Finalize/C_Initialize), so an outage recovers
 * without a restart. A wrong PIN is never retried: HSMs lock the PIN after a few wrong tries.
 *
 * The addon (pkcs11js, an optional dependency with a native build) is loaded only when this
 * backend is used. The PIN never appears in an error.
 */
import { createRequire } from "node:module";
import { endianness } from "node:os";
import { Worker } from "node:worker_threads";
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
  /** Least time between two attempts to reopen a session during an outage (default 1000 ms). */
  retryMs?: number;
  /** Sessions (and threads) signing in parallel (default 2; an HSM may limit its sessions). */
  sessions?: number;
}

type Handle = Buffer;
interface Attr {
  type: number;
  value?: number | boolean | string | Buffer;
}

/** DER of OID 1.3.132.0.10 (secp256k1), the CKA_EC_PARAMS of a secp256k1 key. */
const SECP256K1_EC_PARAMS = Buffer.from("06052b8104000a", "hex");

/** CKR_ codes that mean the PIN is wrong or unusable: never retried. */
const PIN_ERRORS = new Set(["CKR_PIN_INCORRECT", "CKR_PIN_LOCKED", "CKR_PIN_EXPIRED", "CKR_PIN_INVALID", "CKR_PIN_LEN_RANGE"]);

/**
 * A thread that makes calls into the module. PKCS#11 calls block (C_SignInit waits on
 * SoftHSM2's file locks; a network HSM's on the network), so none runs on the event loop. It
 * runs one call at a time: {id, method, args} in, {id, result} or {id, error} out. "sign" is
 * C_SignInit and C_Sign together (one round trip per signature); "constants" reads pkcs11js's.
 */
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const toBuffers = (v) => v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  : Array.isArray(v) ? v.map(toBuffers)
  : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toBuffers(x)]))
  : v;
let p, lib, loadError;
try {
  p = require(workerData.addon);
  lib = new p.PKCS11();
} catch (err) {
  loadError = String(err && err.message || err).split("\\n")[0];
}
parentPort.on("message", ({ id, method, args }) => {
  try {
    if (loadError) throw new Error("the pkcs11js addon does not load (was its build approved and run? npm install-scripts approve pkcs11js, then npm rebuild pkcs11js): " + loadError);
    let result;
    args = toBuffers(args);
    if (method === "constants") result = Object.fromEntries(Object.entries(p).filter(([k, v]) => /^CK[AOKMFUR]_/.test(k) && typeof v === "number"));
    else if (method === "sign") {
      const [session, mechanism, key, data] = args;
      lib.C_SignInit(session, mechanism, key);
      result = lib.C_Sign(session, data, Buffer.alloc(512));
    } else result = lib[method](...args);
    parentPort.postMessage({ id, result });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err).split("\\n")[0] });
  }
});
`;

let addonPath: string | undefined;
function resolveAddon(): string {
  if (!addonPath) {
    try {
      addonPath = createRequire(import.meta.url).resolve("pkcs11js");
    } catch {
      throw new Error(
        "pkcs11 key backend: the pkcs11js addon is not installed (npm install pkcs11js, which builds with a C++ compiler, make and python3; approve its build with npm install-scripts approve pkcs11js)",
      );
    }
  }
  return addonPath;
}

/** One thread into the module: calls on it run one at a time, in order. */
interface Lane {
  call(method: string, ...args: unknown[]): Promise<unknown>;
  worker: Worker;
}

/**
 * A module is initialized once per process (C_Initialize is process-wide), shared by every
 * backend on it, with its threads (lane i serves session i of each backend; every thread loads
 * the same .so, so they share the module's state). `generation` counts initializations: a
 * session from an earlier one is gone. C_Finalize and C_Initialize run alone: the PKCS#11 spec
 * leaves a C_Finalize during another thread's call undefined, so they wait for `inFlight` to
 * drain and hold new calls back meanwhile.
 */
interface SharedModule {
  constants: Record<string, number>;
  lanes: Lane[];
  /** Adds lanes one backend at a time. */
  growing: Promise<unknown>;
  initialized: boolean;
  generation: number;
  users: number;
  inFlight: number;
  drained?: () => void;
  exclusive?: Promise<void>;
}
const modules = new Map<string, Promise<SharedModule>>();

async function startLane(addon: string, modulePath: string): Promise<Lane> {
  const worker = new Worker(WORKER, { eval: true, workerData: { addon } });
  // The thread keeps the process alive only while a call waits on it (not a backend left open).
  worker.unref();
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 0;
  const fromWorker = (v: unknown): unknown =>
    v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Array.isArray(v) ? v.map(fromWorker)
    : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromWorker(x)])) : v;
  worker.on("message", ({ id, result, error }: { id: number; result?: unknown; error?: string }) => {
    const call = pending.get(id);
    pending.delete(id);
    if (pending.size === 0) worker.unref();
    if (error !== undefined) call?.reject(new Error(error));
    else call?.resolve(fromWorker(result));
  });
  worker.on("error", (err) => {
    for (const call of pending.values()) call.reject(err);
    pending.clear();
    worker.unref();
  });
  const call = (method: string, ...args: unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      if (pending.size === 0) worker.ref();
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args });
    });
  try {
    await call("load", modulePath);
  } catch (err) {
    void worker.terminate();
    throw new Error(`cannot load module ${modulePath}: ${errorCode(err)}`);
  }
  return { call, worker };
}

/** A call on one lane, held back while the module is being (re)initialized. */
async function moduleCall(mod: SharedModule, lane: Lane, method: string, ...args: unknown[]): Promise<unknown> {
  while (mod.exclusive) await mod.exclusive;
  mod.inFlight++;
  try {
    return await lane.call(method, ...args);
  } finally {
    if (--mod.inFlight === 0) mod.drained?.();
  }
}

/** Runs fn with no other call in the module (fn calls lanes directly, not moduleCall). */
async function alone<T>(mod: SharedModule, fn: () => Promise<T>): Promise<T> {
  while (mod.exclusive) await mod.exclusive;
  let release!: () => void;
  mod.exclusive = new Promise<void>((resolve) => (release = resolve));
  try {
    while (mod.inFlight > 0) await new Promise<void>((resolve) => (mod.drained = resolve));
    return await fn();
  } finally {
    mod.drained = undefined;
    mod.exclusive = undefined;
    release();
  }
}

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
  const addon = resolveAddon();
  const { module: modulePath, tokenLabel, pin, timeoutMs } = opts;
  const retryMs = opts.retryMs ?? 1000;
  const sessions = opts.sessions ?? 2;
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > 64) throw new Error("pkcs11 key backend: sessions must be an integer from 1 to 64");
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

  let starting = modules.get(modulePath);
  if (!starting) {
    starting = (async () => {
      const first = await startLane(addon, modulePath);
      const constants = (await first.call("constants")) as Record<string, number>;
      return { constants, lanes: [first], growing: Promise.resolve(), initialized: false, generation: 0, users: 0, inFlight: 0 };
    })();
    modules.set(modulePath, starting);
    const mine = starting;
    mine.catch(() => modules.get(modulePath) === mine && modules.delete(modulePath));
  }
  const shared = await starting.catch((err: unknown) => {
    throw fail(errorCode(err));
  });
  shared.users++;
  const c = (name: string) => {
    const v = shared.constants[name];
    if (v === undefined) throw new Error(`pkcs11js has no ${name}`);
    return v;
  };

  async function initialize(): Promise<void> {
    if (shared.initialized) return;
    await alone(shared, async () => {
      if (shared.initialized) return;
      try {
        // OS locking: the module is called from several threads.
        await shared.lanes[0]!.call("C_Initialize", { flags: c("CKF_OS_LOCKING_OK") });
      } catch (err) {
        if (errorCode(err) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") throw fail(`module initialization failed: ${errorCode(err)}`);
      }
      shared.initialized = true;
      shared.generation++;
    });
  }

  /** Finalizes the module unless someone already did since `generation` (then it is fresh). */
  async function finalize(generation: number): Promise<void> {
    await alone(shared, async () => {
      if (!shared.initialized || shared.generation !== generation) return;
      shared.initialized = false;
      await shared.lanes[0]!.call("C_Finalize").catch(() => undefined);
    });
  }

  /** The last backend on a module finalizes it (unless a call is stuck in it) and ends its threads. */
  async function releaseModule(): Promise<void> {
    if (--shared.users > 0) return;
    modules.delete(modulePath);
    if (shared.inFlight === 0) await finalize(shared.generation);
    // A thread stuck in the module ends when the call returns; not waited for.
    for (const lane of shared.lanes) void lane.worker.terminate();
  }

  interface Session {
    handle: Handle;
    key: Handle;
    generation: number;
  }
  /** Session i runs on lane i; `busy` while an operation is on it (one at a time per session). */
  interface Slot {
    lane: Lane;
    session?: Session;
    busy: boolean;
  }
  const slots: Slot[] = [];
  let publicKey: Uint8Array | undefined;
  /** Set by a wrong PIN: later calls fail with it instead of trying the PIN again. */
  let fatal: Error | undefined;
  let lastAttempt = 0;
  let lastError: Error | undefined;
  let closed = false;
  /** Sessions are opened one at a time, so two logins never race (and a wrong PIN is tried once). */
  let opening: Promise<unknown> = Promise.resolve();

  async function findOne(lane: Lane, session: Handle, cls: string): Promise<Handle | undefined> {
    const template: Attr[] = [{ type: c("CKA_CLASS"), value: c(cls) }];
    if (opts.keyLabel !== undefined) template.push({ type: c("CKA_LABEL"), value: opts.keyLabel });
    else template.push({ type: c("CKA_ID"), value: keyId! });
    await moduleCall(shared, lane, "C_FindObjectsInit", session, template);
    try {
      const found = (await moduleCall(shared, lane, "C_FindObjects", session, 2)) as Handle[];
      if (found.length > 1) throw fail(`several ${cls === "CKO_PRIVATE_KEY" ? "private" : "public"} keys ${keyName} on token "${tokenLabel}": give the key id`);
      return found[0];
    } finally {
      await moduleCall(shared, lane, "C_FindObjectsFinal", session);
    }
  }

  /**
   * Opens a session on the lane, logs in and finds the key (and, the first time, the public key).
   * The login is per token and process: the first session's C_Login serves all the others.
   */
  async function openSession(lane: Lane): Promise<Session> {
    await initialize();
    const call = (method: string, ...args: unknown[]) => moduleCall(shared, lane, method, ...args);
    const generation = shared.generation;
    let slot: Handle | undefined;
    for (const s of (await call("C_GetSlotList", true)) as Handle[]) {
      if (((await call("C_GetTokenInfo", s)) as { label: string }).label.trim() === tokenLabel) slot = s;
    }
    if (slot === undefined) throw fail(`no token labelled "${tokenLabel}" in ${modulePath}`);
    const handle = (await call("C_OpenSession", slot, c("CKF_SERIAL_SESSION"))) as Handle;
    try {
      try {
        await call("C_Login", handle, c("CKU_USER"), pin);
      } catch (err) {
        const code = errorCode(err);
        if (PIN_ERRORS.has(code)) {
          fatal = fail(`login to token "${tokenLabel}" refused: ${code === "CKR_PIN_INCORRECT" ? "wrong PIN" : "PIN not usable"} (${code})`);
          throw fatal;
        }
        if (code !== "CKR_USER_ALREADY_LOGGED_IN") throw fail(`login to token "${tokenLabel}" failed: ${code}`);
      }
      const key = await findOne(lane, handle, "CKO_PRIVATE_KEY");
      if (!key) throw fail(`no private key ${keyName} on token "${tokenLabel}"`);
      if (!publicKey) publicKey = await readPublicKey(lane, handle, key);
      return { handle, key, generation };
    } catch (err) {
      await call("C_CloseSession", handle).catch(() => undefined);
      throw err;
    }
  }

  async function readPublicKey(lane: Lane, handle: Handle, key: Handle): Promise<Uint8Array> {
    const call = (method: string, ...args: unknown[]) => moduleCall(shared, lane, method, ...args);
    const [type, params] = (await call("C_GetAttributeValue", handle, key, [{ type: c("CKA_KEY_TYPE") }, { type: c("CKA_EC_PARAMS") }])) as Attr[];
    const keyType = type?.value as Buffer | undefined;
    if (!keyType || readUlong(keyType) !== c("CKK_EC")) throw fail(`the key ${keyName} is not an EC key`);
    if (!SECP256K1_EC_PARAMS.equals(params?.value as Buffer)) throw fail(`the key ${keyName} is not on secp256k1 (CKA_EC_PARAMS is not OID 1.3.132.0.10)`);
    const pub = await findOne(lane, handle, "CKO_PUBLIC_KEY");
    if (!pub) {
      throw fail(`token "${tokenLabel}" has no public key object ${keyName} (the private key's public half is needed for the address: import it with the same label and id)`);
    }
    const [point] = (await call("C_GetAttributeValue", handle, pub, [{ type: c("CKA_EC_POINT") }])) as Attr[];
    return decodeEcPoint(point?.value as Buffer, fail);
  }

  async function dropSession(slot: Slot): Promise<void> {
    const s = slot.session;
    slot.session = undefined;
    if (s && s.generation === shared.generation) await moduleCall(shared, slot.lane, "C_CloseSession", s.handle).catch(() => undefined);
  }

  /** The slot's session: its current one, or a new one (at most one attempt per retryMs for the backend). */
  function currentSession(slot: Slot): Promise<Session> {
    // The usual case, without waiting behind another session's reopening.
    if (!fatal && !closed && slot.session?.generation === shared.generation) return Promise.resolve(slot.session);
    const next = opening.then(async () => {
      if (fatal) throw fatal;
      if (closed) throw new KeyBackendUnavailableError("pkcs11 key backend: closed");
      if (slot.session && slot.session.generation === shared.generation) return slot.session;
      slot.session = undefined;
      const now = Date.now();
      if (lastError && now - lastAttempt < retryMs) throw lastError;
      lastAttempt = now;
      try {
        const generation = shared.generation;
        try {
          slot.session = await openSession(slot.lane);
        } catch (err) {
          if (fatal) throw err;
          // A token that went away and came back is often seen only after re-initializing.
          await finalize(generation);
          slot.session = await openSession(slot.lane);
        }
        lastError = undefined;
        return slot.session;
      } catch (err) {
        // A wrong PIN stays what it is; anything else is an outage until it is not.
        lastError = fatal ?? new KeyBackendUnavailableError(explain(err));
        throw lastError;
      }
    });
    opening = next.catch(() => undefined);
    return next;
  }

  // Calls wait in one queue for a free session; each caller waits at most timeoutMs in all.
  interface Job {
    op: (slot: Slot, s: Session) => Promise<unknown>;
    resolve: (v: unknown) => void;
    reject: (e: unknown) => void;
  }
  const queue: Job[] = [];
  let running: Promise<unknown>[] = [];

  function pump(): void {
    for (const slot of slots) {
      if (queue.length === 0) return;
      if (slot.busy) continue;
      const job = queue.shift()!;
      slot.busy = true;
      const run = runJob(slot, job).finally(() => {
        slot.busy = false;
        running = running.filter((r) => r !== run);
        pump();
      });
      running.push(run);
    }
  }

  async function runJob(slot: Slot, job: Job): Promise<void> {
    let s: Session;
    try {
      s = await currentSession(slot);
    } catch (err) {
      return job.reject(err);
    }
    try {
      job.resolve(await job.op(slot, s));
    } catch (err) {
      if (s === slot.session) await dropSession(slot);
      job.reject(new KeyBackendUnavailableError(explain(err)));
    }
  }

  function enqueue<T>(op: (slot: Slot, s: Session) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return new Promise<T>((resolve, reject) => {
      const job: Job = { op, resolve: resolve as (v: unknown) => void, reject };
      queue.push(job);
      timer = setTimeout(() => {
        // Still queued: it never runs. Running: it finishes on its thread, unheard.
        const i = queue.indexOf(job);
        if (i >= 0) queue.splice(i, 1);
        reject(new KeyBackendUnavailableError(`pkcs11 key backend: token "${tokenLabel}" did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pump();
    }).finally(() => clearTimeout(timer));
  }

  async function sign(slot: Slot, s: Session, digest: Uint8Array): Promise<{ r: bigint; s: bigint }> {
    const out = (await moduleCall(shared, slot.lane, "sign", s.handle, { mechanism: c("CKM_ECDSA") }, s.key, digest)) as Buffer;
    if (out.length !== 64) throw new Error(`CKM_ECDSA returned ${out.length} bytes, not 64`);
    return { r: BigInt("0x" + out.subarray(0, 32).toString("hex")), s: BigInt("0x" + out.subarray(32).toString("hex")) };
  }

  // Open every session now, so a wrong PIN, token or key fails at start with its own message.
  try {
    const grown = shared.growing.then(async () => {
      while (shared.lanes.length < sessions) shared.lanes.push(await startLane(addon, modulePath));
    });
    shared.growing = grown.catch(() => undefined);
    await grown.catch((err: unknown) => {
      throw fail(errorCode(err));
    });
    for (let i = 0; i < sessions; i++) {
      const slot: Slot = { lane: shared.lanes[i]!, busy: false };
      slot.session = await openSession(slot.lane);
      slots.push(slot);
    }
  } catch (err) {
    for (const slot of slots) await dropSession(slot);
    await releaseModule();
    throw new Error(explain(err));
  }
  const checkDigest = new Uint8Array(32).fill(1);

  return {
    kind: "pkcs11",
    publicKey: async () => publicKey!,
    signDigest(digest) {
      if (digest.length !== 32) return Promise.reject(new Error("pkcs11 key backend: the digest must be 32 bytes"));
      return enqueue((slot, s) => sign(slot, s, digest));
    },
    // A real signature: the only call that proves the token, the login and the key all work.
    check: () => enqueue((slot, s) => sign(slot, s, checkDigest)).then(() => undefined),
    async close() {
      if (closed) return;
      closed = true;
      for (const job of queue.splice(0)) job.reject(new KeyBackendUnavailableError("pkcs11 key backend: closed"));
      // A call stuck in the module keeps its session: wait for it, but not forever.
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([
        Promise.all(running).then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(resolve, timeoutMs, false))),
      ]);
      clearTimeout(timer);
      if (done) for (const slot of slots) await dropSession(slot);
      await releaseModule();
    },
  };
}

/** CKA_EC_POINT: a DER OCTET STRING around 0x04 || X || Y (some modules give the raw point). */
function decodeEcPoint(value: Buffer | undefined, fail: (m: string) => Error): Uint8Array {
  if (value?.length === 67 && value[0] === 0x04 && value[1] === 65 && value[2] === 0x04) return new Uint8Array(value.subarray(2));
  if (value?.length === 65 && value[0] === 0x04) return new Uint8Array(value);
  throw fail("the public key object's CKA_EC_POINT is not an uncompressed secp256k1 point");
}
