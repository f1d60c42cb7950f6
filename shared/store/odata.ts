// `@azure/data-tables`' odata filter builder (it quotes and escapes each value), with the package
// loaded on first use rather than with the store modules (see load-on-use.ts).
import type * as DataTables from "@azure/data-tables";
import { onFirstUse } from "../load-on-use";

export const dataTables = onFirstUse<typeof DataTables>("@azure/data-tables");

/** The package's `odata` tagged template. */
export function odata(strings: TemplateStringsArray, ...values: unknown[]): string {
  return dataTables().odata(strings, ...values);
}
