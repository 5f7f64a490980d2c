export { createDiscovery, DEFAULT_DISCOVERY_INTERVAL_MS, DEFAULT_POLL_CONCURRENCY } from "./discovery.js";
export type { Discovery, DiscoveryMetrics, DiscoveryOptions, DiscoverySnapshot } from "./discovery.js";
export { buildSnapshot, orchestratorCapabilityPrice, selectEntries } from "./build-snapshot.js";
export type { CapabilityPrice, DiscoveryEntry, DiscoveryLogger, PolledOrchestrator } from "./build-snapshot.js";
export { createOrchestratorRequest } from "./orchestrator-request.js";
export { DEFAULT_POLL_TIMEOUT_MS, OrchestratorPollError, orchestratorUrl, pollOrchestrator } from "./poll-orchestrator.js";
export {
  createChainSource,
  createFixedSource,
  createWebhookSource,
  DiscoveryConfigError,
  parseOrchAddrs,
  parseWebhookReply,
  selectSource,
  validateWebhookUrl,
} from "./sources.js";
export type { OrchestratorSource, SelectSourceOptions, WebhookSourceOptions } from "./sources.js";
export { isBlocklisted, normalizeBlocklist } from "./blocklist.js";
export { toLegacyDiscoveryJson } from "./legacy-json.js";
export { toDiscoveredOrchestrator } from "./discovered-orchestrator.js";
export { encodeRunnerJson, parseRunnerDiscovery, runnerRejection } from "./live-runner.js";
export type { LiveRunner, RunnerDiscoveryEntry } from "./live-runner.js";
