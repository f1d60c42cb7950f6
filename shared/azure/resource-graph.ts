// Azure Resource Graph queries through the client factory's ResourceGraphClient: every page of a
// query for the given subscriptions, following `$skipToken`, with the request count (each page is a
// request against Resource Graph's quota, which the factory's budget policy paces). Rows come back
// as Resource Graph sends them: `type`, `location` and `resourceGroup` in lower case.
import type { AzureClientFactory } from "./clients";

export interface GraphQueryOptions {
  /** the subscriptions the query runs over */
  subscriptions: string[];
  /** rows per page (1-1000; Resource Graph's default is 100) */
  pageSize?: number;
  signal?: AbortSignal;
}

export interface GraphQueryResult<T> {
  rows: T[];
  /** how many requests (pages) it took */
  requests: number;
  /** what Resource Graph said matched */
  totalRecords: number;
}

export class ResourceGraphQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResourceGraphQueryError";
  }
}

export async function queryResourceGraph<T = Record<string, unknown>>(
  factory: AzureClientFactory,
  query: string,
  options: GraphQueryOptions,
): Promise<GraphQueryResult<T>> {
  const client = factory.resourceGraph();
  const rows: T[] = [];
  let requests = 0;
  let totalRecords: number;
  let skipToken: string | undefined;
  do {
    const page = await client.resources(
      {
        query,
        subscriptions: options.subscriptions,
        options: { top: options.pageSize ?? 1000, resultFormat: "objectArray", ...(skipToken ? { skipToken } : {}) },
      },
      factory.call(options.signal),
    );
    requests++;
    totalRecords = page.totalRecords;
    if (!Array.isArray(page.data)) throw new ResourceGraphQueryError("Resource Graph answered without an object array");
    rows.push(...(page.data as T[]));
    // without `id` in the rows the service cannot page, and says so instead of answering half
    if (page.resultTruncated === "true" && !page.skipToken) {
      throw new ResourceGraphQueryError(
        `Resource Graph truncated the answer at ${rows.length} of ${page.totalRecords} rows: the query must project id to be paged`,
      );
    }
    skipToken = page.skipToken;
  } while (skipToken);
  return { rows, requests, totalRecords };
}

/** A KQL string literal. */
export function kqlString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** A KQL list of string literals: ('a', 'b'). */
export function kqlList(values: readonly string[]): string {
  return `(${values.map(kqlString).join(", ")})`;
}
