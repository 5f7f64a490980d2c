/**
 * TicketBroker.redeemWinningTicket on the dev chain, with tickets built and signed here by an
 * independent implementation (ethers: solidityPackedKeccak256 + Wallet.signMessage).
 */
import {
  BaseWallet,
  Contract,
  Signature,
  Wallet,
  concat,
  getBytes,
  parseEther,
  randomBytes,
  solidityPackedKeccak256,
  toBeHex,
  toBigInt,
  zeroPadValue,
} from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startDevChain, type DevChain } from "../../src/dev-chain/dev-chain.js";

const maxUint256 = 2n ** 256n - 1n;
const secp256k1N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

// Test-only keys, generated for this run.
const sender = Wallet.createRandom();
const recipient = Wallet.createRandom();
const deposit = parseEther("1");
const reserve = parseEther("1");
const faceValue = parseEther("0.01");

let chain: DevChain;
let broker: Contract;
let rounds: Contract;

interface Ticket {
  recipient: string;
  sender: string;
  faceValue: bigint;
  winProb: bigint;
  senderNonce: bigint;
  recipientRandHash: string;
  auxData: string;
}

function ticketHash(t: Ticket): string {
  return solidityPackedKeccak256(
    ["address", "address", "uint256", "uint256", "uint256", "bytes32", "bytes"],
    [t.recipient, t.sender, t.faceValue, t.winProb, t.senderNonce, t.recipientRandHash, t.auxData],
  );
}

function randHash(rand: bigint): string {
  return solidityPackedKeccak256(["uint256"], [rand]);
}

let nonce = 0n;

/** A fresh ticket for the current round, signed by `signer` (the sender by default). */
async function makeTicket(overrides: { winProb?: bigint; signer?: BaseWallet; auxData?: string } = {}) {
  const recipientRand = toBigInt(randomBytes(32));
  const round = (await rounds.getFunction("lastInitializedRound")()) as bigint;
  const blockHash = (await rounds.getFunction("blockHashForRound")(round)) as string;
  const ticket: Ticket = {
    recipient: recipient.address,
    sender: sender.address,
    faceValue,
    winProb: overrides.winProb ?? maxUint256 - 1n,
    senderNonce: ++nonce,
    recipientRandHash: randHash(recipientRand),
    auxData: overrides.auxData ?? concat([zeroPadValue(toBeHex(round), 32), blockHash]),
  };
  const hash = ticketHash(ticket);
  const sig = await (overrides.signer ?? sender).signMessage(getBytes(hash));
  return { ticket, hash, sig, recipientRand };
}

const redeem = (t: { ticket: Ticket; sig: string; recipientRand: bigint }) =>
  broker.getFunction("redeemWinningTicket").staticCall(t.ticket, t.sig, t.recipientRand);

beforeAll(async () => {
  chain = await startDevChain({ signer: { address: sender.address, deposit, reserve } });
  await chain.registerOrchestrator({ address: recipient.address, serviceUri: "https://orchestrator.example:8935" });
  // Redemptions are sent by a third party so the recipient's balance moves by exactly the winnings.
  const redeemer = new Wallet(chain.accounts[1]!.privateKey, chain.provider);
  broker = new Contract(chain.contracts.TicketBroker, chain.abis.TicketBroker, redeemer);
  rounds = new Contract(chain.contracts.RoundsManager, chain.abis.RoundsManager, chain.provider);
});

afterAll(async () => {
  await chain?.close();
});

describe("TicketBroker.redeemWinningTicket", () => {
  test("the contract hashes a ticket as the spec does", async () => {
    const { ticket, hash } = await makeTicket();
    expect(await broker.getFunction("getTicketHash")(ticket)).toBe(hash);
  });

  test("pays a winning ticket to the recipient from the deposit, then refuses its replay", async () => {
    const t = await makeTicket();
    const balanceBefore = await chain.provider.getBalance(recipient.address);
    const tx = await broker.getFunction("redeemWinningTicket")(t.ticket, t.sig, t.recipientRand);
    expect((await tx.wait())?.status).toBe(1);

    expect(await chain.provider.getBalance(recipient.address)).toBe(balanceBefore + faceValue);
    const [senderInfo, reserveInfo] = await broker.getFunction("getSenderInfo")(sender.address);
    expect(senderInfo.deposit).toBe(deposit - faceValue);
    expect(reserveInfo.fundsRemaining).toBe(reserve);
    expect(await broker.getFunction("usedTickets")(t.hash)).toBe(true);

    await expect(redeem(t)).rejects.toMatchObject({ reason: "ticket is used" });
  });

  test("refuses a wrong recipientRand", async () => {
    const t = await makeTicket();
    await expect(redeem({ ...t, recipientRand: t.recipientRand + 1n })).rejects.toMatchObject({
      reason: "recipientRand does not match recipientRandHash",
    });
  });

  test("refuses a signature by another key", async () => {
    const t = await makeTicket({ signer: Wallet.createRandom() });
    await expect(redeem(t)).rejects.toMatchObject({ reason: "invalid signature over ticket hash" });
  });

  test("refuses the high-s twin of a valid signature and a v outside 27/28", async () => {
    const t = await makeTicket();
    const sig = Signature.from(t.sig);
    const highS = concat([sig.r, toBeHex(secp256k1N - toBigInt(sig.s), 32), toBeHex(sig.v === 27 ? 28 : 27, 1)]);
    await expect(redeem({ ...t, sig: highS })).rejects.toMatchObject({ reason: "ECDSA: invalid signature 's' value" });
    const v01 = concat([sig.r, sig.s, toBeHex(sig.v - 27, 1)]);
    await expect(redeem({ ...t, sig: v01 })).rejects.toMatchObject({ reason: "ECDSA: invalid signature 'v' value" });
    // The untouched signature is accepted.
    await expect(redeem(t)).resolves.toBeDefined();
  });

  test("refuses a losing ticket", async () => {
    const t = await makeTicket({ winProb: 1n });
    await expect(redeem(t)).rejects.toMatchObject({ reason: "ticket did not win" });
  });

  test("refuses a creation round block hash that is not the round's", async () => {
    const round = (await rounds.getFunction("lastInitializedRound")()) as bigint;
    const t = await makeTicket({ auxData: concat([zeroPadValue(toBeHex(round), 32), `0x${"ab".repeat(32)}`]) });
    await expect(redeem(t)).rejects.toMatchObject({ reason: "ticket creationRoundBlockHash invalid for creationRound" });
  });

  test("refuses a recipient that is not an active transcoder", async () => {
    const t = await makeTicket();
    const stranger = Wallet.createRandom().address;
    const ticket = { ...t.ticket, recipient: stranger };
    const sig = await sender.signMessage(getBytes(ticketHash(ticket)));
    await expect(redeem({ ticket, sig, recipientRand: t.recipientRand })).rejects.toMatchObject({ reason: "transcoder must be active" });
  });

  test("refuses a ticket whose creation round has expired", async () => {
    const t = await makeTicket();
    await chain.advanceRound();
    await chain.advanceRound();
    await expect(redeem(t)).rejects.toMatchObject({ reason: "ticket is expired" });
  });
});
