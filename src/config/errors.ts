/**
 * The one base class for "the operator's configuration is wrong": main prints its message as one
 * line and exits 2. Module-specific config errors (keys, prices, discovery) extend it.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}
