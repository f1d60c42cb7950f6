// Azure Monitor metrics batch API (`POST /subscriptions/{s}/metrics:getBatch`, api 2024-02-01, the
// only call @azure/monitor-query-metrics makes). Values come from test overrides, then from custom
// metrics posted to the ingestion API below, else from the emulated state: a load balancer's
// `DipAvailability` per `BackendIPAddress` is 100 for a backend whose VM is running and 0 otherwise,
// unless a test's `probeOf` says what the probe sees of a running VM (e.g. a hung guest, or a node
// whose health check fails).
//
// Custom metrics ingestion, `POST https://{region}.monitoring.azure.com{resourceId}/metrics` in Azure
// (learn.microsoft.com/azure/azure-monitor/essentials/metrics-store-custom-rest-api; the REST
// reference "Metrics - Custom - Create"): here `POST {url}[/_region/{region}]{resourceId}/metrics`.
// There is no recording of this API; the emulator follows the documented contract: a bearer token
// for https://monitoring.azure.com/ (401 without one, or with one the emulator's IMDS did not issue
// for that audience); the token's identity must hold Monitoring Metrics Publisher on a scope that
// contains the resource (403 otherwise, and for tokens of no identity); the resource must exist
// (404) and, when the region is given, be in that region (400); the body is an AzureMetricsDocument
// (JSON, or one per line as application/x-ndjson) whose time is at most 20 minutes old and 5 minutes
// ahead, with a metric and namespace, at most 10 dimension names each with a value in every series,
// and series of numbers with a positive whole count (400 otherwise). Accepted values keep their
// minute, and getBatch aggregates them per interval like Azure: average = sum / count.
import type { Emulator } from "./emulator";
import { isObject, type Reply } from "./http";
import { lower } from "./resource-id";
import { getPath, parentOf, str } from "./store";
import { ArmError, type Json, type ResourceDoc } from "./types";

/** Monitoring Metrics Publisher, the built-in role that may ingest custom metrics. */
export const MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb";
/** The audience of ingestion tokens. */
const MONITORING_AUDIENCE = "https://monitoring.azure.com";
const PAST_MS = 20 * 60_000;
const FUTURE_MS = 5 * 60_000;
const MAX_DIMENSIONS = 10;
const MAX_NAME = 256;

/** One series of an accepted custom-metric post. */
interface CustomPoint {
  time: number;
  dimensions: Record<string, string>;
  min: number;
  max: number;
  sum: number;
  count: number;
}

interface Series {
  dimensions: Record<string, string>;
  value: number;
}

const AGGREGATIONS = ["average", "minimum", "maximum", "total", "count"];

export class MetricsService {
  private readonly overrides = new Map<string, Series[]>();
  /** `resource|namespace|metric` (lower case) -> accepted custom values */
  private readonly custom = new Map<string, CustomPoint[]>();
  /**
   * What the load balancer probe sees of a running backend VM (percent answered), when a test models
   * the guest; undefined: the default (100). Asked at every query, so it follows the test's model.
   */
  probeOf?: (vm: ResourceDoc) => number | undefined;

  constructor(private readonly emu: Emulator) {}

  /** Pins a metric's value for a resource (optionally for one dimension combination). */
  set(resourceId: string, metric: string, value: number, dimensions: Record<string, string> = {}): void {
    const key = `${lower(resourceId)}|${lower(metric)}`;
    const list = (this.overrides.get(key) ?? []).filter((s) => !sameDimensions(s.dimensions, dimensions));
    list.push({ dimensions, value });
    this.overrides.set(key, list);
  }

  clear(resourceId?: string): void {
    if (!resourceId) return this.overrides.clear();
    for (const k of [...this.overrides.keys()]) if (k.startsWith(lower(resourceId) + "|")) this.overrides.delete(k);
  }

  reset(): void {
    this.overrides.clear();
    this.custom.clear();
  }

  /** The custom values accepted for a resource's metric (what the ingestion API stored). */
  customValues(resourceId: string, namespace: string, metric: string): CustomPoint[] {
    return [...(this.custom.get(customKey(resourceId, namespace, metric)) ?? [])];
  }

  /**
   * `POST [/_region/{region}]{resourceId}/metrics`: custom metrics ingestion (see the header).
   * `region` is the regional endpoint's, when the caller addressed one.
   */
  ingest(resourceId: string, region: string | undefined, bodyText: string, headers: Record<string, unknown>): Reply {
    const fail = (status: number, code: string, message: string): Reply => ({
      status,
      body: { error: { code, message } },
    });
    const auth = typeof headers.authorization === "string" ? headers.authorization : "";
    const bearer = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (!bearer) return fail(401, "AuthenticationFailed", "The 'Authorization' header with a bearer token is missing.");
    const token = this.emu.imds.tokenInfo(bearer);
    if (!token) return fail(401, "InvalidAuthenticationToken", "The access token is invalid.");
    if (token.resource.replace(/\/+$/, "") !== MONITORING_AUDIENCE) {
      return fail(
        401,
        "InvalidAuthenticationTokenAudience",
        `The access token has been obtained for the wrong audience '${token.resource}'; expected '${MONITORING_AUDIENCE}/'.`,
      );
    }
    const doc = this.emu.store.get(resourceId);
    if (!token.principalId || !this.mayPublish(token.principalId, resourceId)) {
      return fail(
        403,
        "AuthorizationFailed",
        `The client '${token.principalId ?? "(no identity)"}' does not have authorization to perform action ` +
          `'Microsoft.Insights/Metrics/Write' over scope '${resourceId}'.`,
      );
    }
    if (!doc) return fail(404, "ResourceNotFound", `The resource '${resourceId}' was not found.`);
    const location = lower(str(doc.location ?? "")).replace(/\s+/g, "");
    if (region !== undefined && lower(region) !== location) {
      return fail(
        400,
        "BadRequest",
        `Metrics for a resource in '${location}' must be sent to that region's endpoint, not to '${region}'.`,
      );
    }
    const ndjson = /x-ndjson/i.test(typeof headers["content-type"] === "string" ? headers["content-type"] : "");
    const texts = ndjson ? bodyText.split("\n").filter((l) => l.trim() !== "") : [bodyText];
    const accepted: { key: string; point: CustomPoint }[] = [];
    for (const text of texts) {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return fail(400, "BadRequest", "The request body is not valid JSON.");
      }
      const problem = documentProblem(body, Date.now());
      if (problem) return fail(400, "BadRequest", problem);
      const base = (body as { data: { baseData: Json } }).data.baseData;
      const dimNames = (base.dimNames as string[] | undefined) ?? [];
      for (const series of base.series as Json[]) {
        const values = (series.dimValues as string[] | undefined) ?? [];
        accepted.push({
          key: customKey(resourceId, str(base.namespace), str(base.metric)),
          point: {
            time: Math.floor(Date.parse(str((body as Json).time)) / 60_000) * 60_000,
            dimensions: Object.fromEntries(dimNames.map((d, i) => [d, values[i]])),
            min: series.min as number,
            max: series.max as number,
            sum: series.sum as number,
            count: series.count as number,
          },
        });
      }
    }
    // all or nothing: a post with one bad document stores none of it
    for (const { key, point } of accepted) this.custom.set(key, [...(this.custom.get(key) ?? []), point]);
    return { status: 200 };
  }

  /** Monitoring Metrics Publisher for the principal on the resource or a scope above it. */
  private mayPublish(principalId: string, resourceId: string): boolean {
    const target = lower(resourceId);
    return this.emu.store.all().some((d) => {
      if (lower(d.type) !== "microsoft.authorization/roleassignments") return false;
      if (lower(str(getPath(d, ["properties", "principalId"]))) !== lower(principalId)) return false;
      if (!lower(str(getPath(d, ["properties", "roleDefinitionId"]))).endsWith(`/${MONITORING_METRICS_PUBLISHER}`)) {
        return false;
      }
      const scope = parentOf(d.id);
      return target === scope || target.startsWith(`${scope}/`);
    });
  }

  getBatch(_subscription: string, query: URLSearchParams, body: unknown): Reply {
    if (!query.get("api-version"))
      throw new ArmError(400, "MissingApiVersionParameter", "The api-version query parameter is required.");
    const names = (query.get("metricnames") ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const namespace = query.get("metricnamespace") ?? "";
    if (names.length === 0) throw new ArmError(400, "BadRequest", "metricnames is required.");
    if (!isObject(body) || !Array.isArray(body.resourceids) || body.resourceids.length === 0) {
      throw new ArmError(400, "BadRequest", "resourceids is required.");
    }
    const aggregations = (query.get("aggregation") ?? "average")
      .split(",")
      .map((a) => a.trim().toLowerCase())
      .filter((a) => AGGREGATIONS.includes(a));
    const end = query.get("endtime") ? new Date(query.get("endtime")!) : new Date();
    const start = query.get("starttime") ? new Date(query.get("starttime")!) : new Date(end.getTime() - 3600_000);
    const interval = query.get("interval") ?? "PT1M";
    const stepMs = isoDurationMs(interval) || 60_000;
    const filter = parseFilter(query.get("filter") ?? query.get("$filter"));
    const values = (body.resourceids as unknown[]).map((rid) => {
      const resourceId = str(rid);
      const doc = this.emu.store.get(resourceId);
      return {
        starttime: start.toISOString(),
        endtime: end.toISOString(),
        interval,
        namespace,
        resourceregion: typeof doc?.location === "string" ? doc.location : "westeurope",
        resourceid: resourceId,
        value: names.map((name) =>
          this.customValues(resourceId, namespace, name).length > 0
            ? this.customMetric(resourceId, namespace, name, filter, aggregations, start, end, stepMs)
            : this.metric(resourceId, doc, name, filter, aggregations, start, end, stepMs),
        ),
      };
    });
    return { status: 200, body: { values } };
  }

  private metric(
    resourceId: string,
    doc: ResourceDoc | undefined,
    name: string,
    filter: { dimension: string; value: string }[],
    aggregations: string[],
    start: Date,
    end: Date,
    stepMs: number,
  ): Json {
    let series = this.overrides.get(`${lower(resourceId)}|${lower(name)}`) ?? (doc ? this.derived(doc, name) : []);
    for (const f of filter) {
      if (f.value !== "*") series = series.filter((s) => lower(s.dimensions[f.dimension] ?? "") === lower(f.value));
    }
    const split = filter.map((f) => f.dimension);
    const timeseries = split.length
      ? series.map((s) => ({
          metadatavalues: split.map((d) => ({
            name: { value: d.toLowerCase(), localizedValue: d },
            value: s.dimensions[d] ?? "",
          })),
          data: points(s.value, aggregations, start, end, stepMs),
        }))
      : series.length
        ? [
            {
              metadatavalues: [],
              data: points(series.reduce((a, s) => a + s.value, 0) / series.length, aggregations, start, end, stepMs),
            },
          ]
        : [];
    return {
      id: `${resourceId}/providers/Microsoft.Insights/metrics/${name}`,
      type: "Microsoft.Insights/metrics",
      name: { value: name, localizedValue: name },
      displayDescription: "",
      unit: name === "DipAvailability" || name === "Percentage CPU" ? "Percent" : "Count",
      timeseries,
      errorCode: "Success",
    };
  }

  /** A custom metric from its ingested values: per interval, per split dimension values, like Azure. */
  private customMetric(
    resourceId: string,
    namespace: string,
    name: string,
    filter: { dimension: string; value: string }[],
    aggregations: string[],
    start: Date,
    end: Date,
    stepMs: number,
  ): Json {
    let values = this.customValues(resourceId, namespace, name).filter(
      (p) => p.time >= start.getTime() && p.time < end.getTime(),
    );
    for (const f of filter) {
      if (f.value !== "*") values = values.filter((p) => lower(p.dimensions[f.dimension] ?? "") === lower(f.value));
    }
    const split = filter.map((f) => f.dimension);
    const groups = new Map<string, CustomPoint[]>();
    for (const p of values) {
      const key = JSON.stringify(split.map((d) => p.dimensions[d] ?? ""));
      groups.set(key, [...(groups.get(key) ?? []), p]);
    }
    const timeseries = [...groups.entries()].map(([key, group]) => {
      const dimValues = JSON.parse(key) as string[];
      const data: Json[] = [];
      for (let t = start.getTime(); t < end.getTime() && data.length < 1440; t += stepMs) {
        const inStep = group.filter((p) => p.time >= t && p.time < t + stepMs);
        const point: Json = { timeStamp: new Date(t).toISOString() };
        if (inStep.length > 0) {
          const sum = inStep.reduce((a, p) => a + p.sum, 0);
          const count = inStep.reduce((a, p) => a + p.count, 0);
          const all: Record<string, number> = {
            average: sum / count,
            minimum: Math.min(...inStep.map((p) => p.min)),
            maximum: Math.max(...inStep.map((p) => p.max)),
            total: sum,
            count,
          };
          for (const a of aggregations) point[a] = all[a];
        }
        data.push(point);
      }
      return {
        metadatavalues: split.map((d, i) => ({
          name: { value: d.toLowerCase(), localizedValue: d },
          value: dimValues[i],
        })),
        data,
      };
    });
    return {
      id: `${resourceId}/providers/Microsoft.Insights/metrics/${name}`,
      type: "Microsoft.Insights/metrics",
      name: { value: name, localizedValue: name },
      displayDescription: "",
      // Azure Monitor has no units for custom metrics
      unit: "Unspecified",
      timeseries,
      errorCode: "Success",
    };
  }

  /** Values the emulated state implies, when no override is set. */
  private derived(doc: ResourceDoc, name: string): Series[] {
    const type = lower(doc.type);
    if (type === "microsoft.network/loadbalancers" && name === "DipAvailability") {
      const pools = (getPath(doc, ["properties", "backendAddressPools"]) as Json[] | undefined) ?? [];
      const series: Series[] = [];
      for (const pool of pools) {
        const refs = (getPath(pool, ["properties", "backendIPConfigurations"]) as { id: string }[] | undefined) ?? [];
        for (const ref of refs) {
          const nicId = ref.id.split("/ipConfigurations/")[0];
          const nic = this.emu.store.get(nicId);
          if (!nic) continue;
          const ipc = ((getPath(nic, ["properties", "ipConfigurations"]) as Json[] | undefined) ?? []).find(
            (c) => lower(str(c.id)) === lower(ref.id),
          );
          const ip = ipc ? str(getPath(ipc, ["properties", "privateIPAddress"]) ?? "") : "";
          const vmId = getPath(nic, ["properties", "virtualMachine", "id"]) as string | undefined;
          const vm = vmId ? this.emu.store.get(vmId) : undefined;
          const running = vm
            ? this.emu.store.getSecret(vm.id, "powerState") === undefined ||
              this.emu.store.getSecret(vm.id, "powerState") === "running"
            : false;
          series.push({
            dimensions: { BackendIPAddress: ip, BackendPort: "80", ProtocolType: "Http" },
            value: running ? (this.probeOf?.(vm!) ?? 100) : 0,
          });
        }
      }
      return series;
    }
    return [];
  }
}

function sameDimensions(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/** `BackendIPAddress eq '*' and BackendPort eq '443'` */
function parseFilter(filter: string | null): { dimension: string; value: string }[] {
  if (!filter) return [];
  return [...filter.matchAll(/([A-Za-z0-9_.]+)\s+eq\s+'([^']*)'/g)].map((m) => ({ dimension: m[1], value: m[2] }));
}

function points(value: number, aggregations: string[], start: Date, end: Date, stepMs: number): Json[] {
  const out: Json[] = [];
  for (let t = start.getTime(); t < end.getTime() && out.length < 1440; t += stepMs) {
    const p: Json = { timeStamp: new Date(t).toISOString() };
    for (const a of aggregations) p[a] = a === "count" ? 1 : value;
    out.push(p);
  }
  return out;
}

function isoDurationMs(d: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/i.exec(d);
  if (!m) return 0;
  return ((+(m[1] ?? 0) * 24 + +(m[2] ?? 0)) * 60 + +(m[3] ?? 0)) * 60_000 + +(m[4] ?? 0) * 1000;
}

function customKey(resourceId: string, namespace: string, metric: string): string {
  return `${lower(resourceId)}|${lower(namespace)}|${lower(metric)}`;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{1,2}:\d{2})$/;

const isName = (v: unknown): v is string => typeof v === "string" && v.trim() !== "" && v.length <= MAX_NAME;
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Why an AzureMetricsDocument is refused, or undefined when it is acceptable at `now`. */
function documentProblem(body: unknown, now: number): string | undefined {
  if (!isObject(body)) return "The body must be a JSON object with 'time' and 'data'.";
  const time = body.time;
  if (typeof time !== "string" || !ISO_8601.test(time) || Number.isNaN(Date.parse(time))) {
    return "'time' must be an ISO 8601 date and time.";
  }
  const at = Date.parse(time);
  if (at < now - PAST_MS || at > now + FUTURE_MS) {
    return `'time' ${time} is outside what Azure Monitor accepts: at most 20 minutes in the past and 5 minutes in the future.`;
  }
  const base = getPath(body, ["data", "baseData"]);
  if (!isObject(base)) return "'data.baseData' is required.";
  if (!isName(base.metric)) return "'data.baseData.metric' must be a name of 1 to 256 characters.";
  if (!isName(base.namespace)) return "'data.baseData.namespace' must be a name of 1 to 256 characters.";
  const dimNames = base.dimNames ?? [];
  if (!Array.isArray(dimNames) || !dimNames.every(isName)) return "'dimNames' must be a list of names.";
  if (dimNames.length > MAX_DIMENSIONS) return `A custom metric has at most ${MAX_DIMENSIONS} dimensions.`;
  if (new Set(dimNames.map((d) => d.toLowerCase())).size !== dimNames.length) return "'dimNames' repeats a name.";
  const series = base.series;
  if (!Array.isArray(series) || series.length === 0) return "'data.baseData.series' must have at least one series.";
  for (const [i, s] of series.entries()) {
    if (!isObject(s)) return `series[${i}] must be an object.`;
    const values = s.dimValues ?? [];
    if (!Array.isArray(values) || values.length !== dimNames.length || !values.every(isName)) {
      return `series[${i}].dimValues must give one value for each of the ${dimNames.length} dimension name(s).`;
    }
    if (!isNumber(s.min) || !isNumber(s.max) || !isNumber(s.sum)) return `series[${i}] needs numbers min, max and sum.`;
    if (!Number.isInteger(s.count) || (s.count as number) < 1)
      return `series[${i}].count must be a whole number of 1 or more.`;
    if (s.min > s.max) return `series[${i}].min is greater than its max.`;
  }
  return undefined;
}
