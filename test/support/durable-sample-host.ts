// Test entry point for the sample app: installs the @azure/functions-core stub BEFORE the app
// registers its functions, then hands out hosts built from what was captured. Import this module
// first in a test file.
import "../../emulator/durable/install";
import "./durable-sample-app";
import { DurableTestHost, fromRegistry, type DurableTestHostOptions } from "../../emulator/durable";

/** A host running the sample app's captured orchestrators and activities (options override defaults). */
export function sampleHost(options: Partial<DurableTestHostOptions> = {}): DurableTestHost {
  return new DurableTestHost({ ...fromRegistry(), ...options });
}
