/**
 * npx tsx bench/softhsm-cost.ts
 *
 * The CPU one SoftHSM2 signature costs, beside the keystore backend's: C_SignInit + C_Sign in a
 * tight synchronous loop on one session (no worker threads, no signer), and libsecp256k1's sign.
 * A one-ticket call makes two signatures (ticket and state), so this bounds what the PKCS#11
 * backend can reach on a machine whose cores are all busy: docs/performance.md, "Key backends".
 * A benchmark: it asserts nothing. Needs softhsm2 (Debian) and pkcs11js.
 */
import { randomBytes } from "node:crypto";
import * as ns from "pkcs11js";
import { createSoftHsm, SOFTHSM_MODULE } from "../test/keys/support/pkcs11-softhsm.js";
import { createEthSigner } from "../src/crypto/eth-sign.js";

// pkcs11js is CommonJS: its constants are on the default export.
const pkcs11 = ((ns as { default?: typeof ns }).default ?? ns) as typeof ns;
const N = 2000;

function cpuMicros(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

const hsm = createSoftHsm("cost", "1234");
try {
  const key = randomBytes(32);
  hsm.importKey(key, "k", "01");
  const lib = new pkcs11.PKCS11();
  lib.load(SOFTHSM_MODULE);
  lib.C_Initialize();
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === "cost")!;
  const session = lib.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
  lib.C_Login(session, pkcs11.CKU_USER, "1234");
  lib.C_FindObjectsInit(session, [{ type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY }]);
  const [privateKey] = lib.C_FindObjects(session, 1);
  lib.C_FindObjectsFinal(session);
  const digest = randomBytes(32);
  const out = Buffer.alloc(72);
  let init = 0;
  let sign = 0;
  const hsmSign = () => {
    init += cpuMicros(() => lib.C_SignInit(session, { mechanism: pkcs11.CKM_ECDSA }, privateKey!));
    sign += cpuMicros(() => lib.C_Sign(session, digest, out));
  };
  for (let i = 0; i < 200; i++) hsmSign();
  init = sign = 0;
  for (let i = 0; i < N; i++) hsmSign();
  const signer = createEthSigner(key);
  for (let i = 0; i < 500; i++) signer.sign(digest);
  const keystore = cpuMicros(() => {
    for (let i = 0; i < N; i++) signer.sign(digest);
  });
  console.log(`SoftHSM2 signature: ${((init + sign) / N).toFixed(0)} µs CPU (C_SignInit ${(init / N).toFixed(0)}, C_Sign ${(sign / N).toFixed(0)})`);
  console.log(`keystore signature: ${(keystore / N).toFixed(0)} µs CPU`);
  lib.C_Logout(session);
  lib.C_CloseSession(session);
  lib.C_Finalize();
} finally {
  hsm.remove();
}
