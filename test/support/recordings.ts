// Helpers for replaying Azure SDK test-recorder files (test-proxy format) against the emulator:
// loading the recordings, reading their entries, describing response shapes and sending requests.
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";

export interface RecordedEntry {
  RequestUri: string;
  RequestMethod: string;
  RequestHeaders: Record<string, string>;
  RequestBody: unknown;
  StatusCode: number;
  ResponseHeaders: Record<string, string>;
  ResponseBody: unknown;
}

export interface Recording {
  /** path relative to the recordings folder, e.g. `compute/recording_availabilitysets_create_test.json` */
  name: string;
  entries: RecordedEntry[];
}

/**
 * `<repoRoot>/test/fixtures/azure-recordings` (the copies of the shared recordings, README there);
 * `fromDir` is the compiled test's own folder (`dist/test/integration`).
 */
export function recordingsDir(fromDir: string): string {
  const repoRoot = path.resolve(fromDir, "..", "..", "..");
  return path.resolve(repoRoot, "test", "fixtures", "azure-recordings");
}

export function loadRecordings(dir: string): Recording[] {
  const walk = (d: string): string[] =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .flatMap((e) =>
        e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith(".json") ? [path.join(d, e.name)] : [],
      );
  return walk(dir)
    .sort()
    .map((file) => {
      const json = JSON.parse(fs.readFileSync(file, "utf8")) as { Entries?: RecordedEntry[] };
      if (!Array.isArray(json.Entries)) throw new Error(`${file}: no Entries array`);
      return { name: path.relative(dir, file).split(path.sep).join("/"), entries: json.Entries };
    });
}

/** Case-insensitive header lookup. */
export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  const v = key === undefined ? undefined : headers[key];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The shape compared for a body: the sorted top-level keys of a JSON object, `[]` for an empty
 * body, or a one-element marker for any other JSON value (`<array>`, `<string>`...).
 */
export function bodyShape(body: unknown): string[] {
  let value = body;
  if (typeof value === "string") {
    if (value.trim() === "") return [];
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return ["<text>"];
    }
  }
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return ["<array>"];
  if (typeof value === "object") return Object.keys(value).sort();
  return [`<${typeof value}>`];
}

/** Operation-status URLs (Azure-AsyncOperation and Location targets). */
const POLL_PATH = [
  // storage answers on asyncoperations, galleries on capsOperations
  /^\/subscriptions\/[^/]+\/providers\/[^/]+\/locations\/[^/]+\/(operations|azureasyncoperation|diskoperations|capsoperations|asyncoperations|operationresults)\/[^/]+$/i,
  /^\/subscriptions\/[^/]+\/operationresults\/[^/]+$/i,
  // private DNS keeps them under the resource group
  /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.network\/(privatednsoperationstatuses|privatednsoperationresults)\/[^/]+$/i,
];

/** The path of a recorded URL (relative ones too), with a leading `//` (Java's recorder) made single. */
export function pathOf(url: string): string {
  return new URL(url, "https://recorded.invalid").pathname.replace(/^\/{2,}/, "/");
}

export function isPollUrl(url: string): boolean {
  const p = pathOf(url);
  return POLL_PATH.some((re) => re.test(p));
}

/**
 * Identifies the operation a status URL belongs to: the kind of URL and the operation id (its last
 * two path segments, lower-cased; recorders write the subscription differently in a request and in
 * the header that named it), plus `#monitor` for compute's Location URL, which is the
 * Azure-AsyncOperation URL with `monitor=true` added.
 */
export function pollKey(url: string): string {
  const u = new URL(url, "https://recorded.invalid");
  const tail = pathOf(url).toLowerCase().split("/").slice(-2).join("/");
  return tail + (u.searchParams.get("monitor") === "true" ? "#monitor" : "");
}

/** The recorded URL with its scheme and host (`REDACTED`, `Sanitized...`) replaced by the emulator's. */
export function rebase(recordedUrl: string, base: string): string {
  const u = new URL(recordedUrl);
  return `${base}${u.pathname}${u.search}`;
}

/** A non-terminal answer of a status URL: 202 (Location), or a body whose `status` is not terminal. */
export function isRunning(e: Pick<RecordedEntry, "StatusCode" | "ResponseBody">): boolean {
  if (e.StatusCode === 202) return true;
  const b = e.ResponseBody;
  if (b && typeof b === "object" && "status" in b && typeof b.status === "string") {
    return !["succeeded", "failed", "canceled", "cancelled"].includes(b.status.toLowerCase());
  }
  return false;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export function send(
  agent: https.Agent,
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const all: Record<string, string> = { ...headers };
    if (body !== undefined) all["content-length"] = String(Buffer.byteLength(body));
    const req = https.request(url, { method, headers: all, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}
