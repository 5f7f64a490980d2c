// Test-only loader: makes the dev-only packages (EDR, solc) unresolvable, as on a machine
// that installed without optional and dev dependencies.
import { register } from "node:module";

const hook = `
export async function resolve(specifier, context, next) {
  if (specifier === "@nomicfoundation/edr" || specifier === "solc") {
    const err = new Error("Cannot find package '" + specifier + "' (hidden by the test)");
    err.code = "ERR_MODULE_NOT_FOUND";
    throw err;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
