/** The signer's TicketBroker funds, as TicketBroker.getSenderInfo reports them. */
export interface SenderInfo {
  deposit: bigint;
  /** reserve.fundsRemaining */
  reserve: bigint;
  withdrawRound: bigint;
}

/** One consistent read of the chain state the signer needs to create safe tickets. */
export interface ChainSnapshot {
  chainId: bigint;
  /** RoundsManager.lastInitializedRound() */
  lastInitializedRound: bigint;
  /** RoundsManager.blockHashForRound(lastInitializedRound), 32 bytes */
  lastInitializedBlockHash: Uint8Array;
  /** The last L1 block number seen (Arbitrum: the header's l1BlockNumber; otherwise the block number). */
  lastSeenL1Block: bigint;
  sender: SenderInfo;
  /** When this snapshot was read, ms since the epoch. */
  readAt: number;
}

export interface ChainStatus {
  snapshot: ChainSnapshot | undefined;
  ageMs: number;
  stale: boolean;
  ethUrl: string;
  devChain: boolean;
}

/**
 * A cached view of the chain, refreshed in the background. The payment path reads it
 * with current() and never waits on the chain.
 */
export interface ChainView {
  /** The cached snapshot; throws ChainUnavailableError when it is missing or older than the staleness bound. */
  current(): ChainSnapshot;
  status(): ChainStatus;
  /**
   * Service URIs of the orchestrators active in the last initialized round (activationRound <=
   * round < deactivationRound), as the reference's on-chain discovery polls them: the transcoder
   * pool's members and, until their deactivation round, those seen in it before.
   */
  registeredOrchestrators(): Promise<{ address: string; serviceUri: string }[]>;
  close(): Promise<void>;
}

/** The chain view is missing or too old to sign against safely. */
export class ChainUnavailableError extends Error {
  override name = "ChainUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A fixed view, for tests and tools that do not need a chain. */
export function createStaticChainView(snapshot: Omit<ChainSnapshot, "readAt">): ChainView {
  return {
    current: () => ({ ...snapshot, readAt: Date.now() }),
    status: () => ({ snapshot: { ...snapshot, readAt: Date.now() }, ageMs: 0, stale: false, ethUrl: "", devChain: false }),
    registeredOrchestrators: async () => [],
    close: async () => {},
  };
}
