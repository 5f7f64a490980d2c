/**
 * Configuration: Go-style flags (config/flags.ts), value parsers (config/values.ts) and the typed
 * Config built from them (config/load-config.ts). One ConfigError base for every config mistake.
 */
export { ConfigError } from "./config/errors.js";
export { FLAGS, flagBool, parseFlags, unsupportedFlagWarnings, usage, type FlagName, type RawFlags } from "./config/flags.js";
export {
  defaultAddr,
  isLoopbackHost,
  parseAddressList,
  parseCorsOrigins,
  parseDuration,
  parseHeaderList,
  parseListenAddr,
  parseNonNegativeRat,
  parseWei,
} from "./config/values.js";
export { loadConfig, NO_WEBHOOK_WARNING, type ChainConfig, type Config, type DiscoveryConfig, type KeySource } from "./config/load-config.js";
