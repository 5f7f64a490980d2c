/**
 * The IPC messages between the -workers primary and its workers (node:cluster with "advanced"
 * serialization, so bigints and byte arrays cross as they are). Only the primary talks to the
 * chain and to orchestrators; it relays what workers need, and sums what they count.
 */
import type { MetricObjectWithValues, MetricValue } from "prom-client";
import type { ActivityState } from "../activity/recorder.js";
import type { ChainStatus } from "../chain/chain-view.js";
import type { DiscoverySnapshot } from "../discovery/discovery.js";
import type { PriceFeedState } from "../pricing/price-feed.js";

/** The chain view as the primary sees it; `error` is why its current() refuses, if it does. */
export interface ChainRelay {
  status: ChainStatus;
  error: string | undefined;
}

export type ToWorker =
  /** key: undefined when it is a remote key (the worker opens its backend itself); discovery: undefined when the primary runs no discovery. */
  | { t: "init"; key: Uint8Array | undefined; chain: ChainRelay; discovery: DiscoverySnapshot | undefined; priceFeed: PriceFeedState | undefined }
  | { t: "chain"; chain: ChainRelay }
  /** The price feed reader's state (USD ceilings); each worker judges its age with its own clock. */
  | { t: "priceFeed"; state: PriceFeedState }
  | { t: "discovery"; snapshot: DiscoverySnapshot }
  /** The other workers' latest activity, for WatchSignerActivity. */
  | { t: "peers"; states: ActivityState[] }
  /** Send your metrics (for a /metrics answer being assembled). */
  | { t: "collect"; id: number }
  /** The summed /metrics text a worker asked for. */
  | { t: "metrics"; id: number; text: string | undefined }
  | { t: "shutdown" };

export type ToPrimary =
  /** Listening for messages: the primary then sends init (a message sent earlier would be lost). */
  | { t: "ready" }
  | { t: "listening"; url: string; host: string; port: number }
  /** Startup failed; `config` when it is the operator's mistake (exit 2). */
  | { t: "fatal"; message: string; config: boolean }
  | { t: "activity"; state: ActivityState }
  | { t: "collected"; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] }
  | { t: "metrics?"; id: number };
