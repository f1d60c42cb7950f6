// The Azure SDK's own test for "an HTTP error from an Azure service", without loading the SDK's HTTP
// pipeline with the module that asks (the entry module must stay light, see load-on-use.ts): the
// pipeline package loads the first time an error is classified.
import type * as CoreRestPipeline from "@azure/core-rest-pipeline";
import { onFirstUse } from "../load-on-use";

const pipeline = onFirstUse<typeof CoreRestPipeline>("@azure/core-rest-pipeline");

/** `@azure/core-rest-pipeline`'s isRestError. */
export function isRestError(e: unknown): e is CoreRestPipeline.RestError {
  return pipeline().isRestError(e);
}
