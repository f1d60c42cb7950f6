// Packages loaded on first use, not when the entry module loads. On Flex Consumption every cold start
// pays for what the entry module's import graph loads before the host can register a function; the
// Azure SDK clients, the ACME client and their dependencies are most of that and are needed only once
// an activity, a route or a timer actually runs. `import type` keeps the compiler's view of the
// package; this loads its code when first called (Node caches it from then on).
import { createRequire } from "node:module";

const requireFromHere = createRequire(__filename);

/** `() => the package`, loaded the first time it is called. */
export function onFirstUse<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireFromHere(name) as T);
}
