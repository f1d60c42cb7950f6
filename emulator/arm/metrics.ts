// Azure Monitor metrics batch API (`POST /subscriptions/{s}/metrics:getBatch`, api 2024-02-01, the
// only call @azure/monitor-query-metrics makes). Values come from test overrides, else from the
// emulated state: a load balancer's `DipAvailability` per `BackendIPAddress` is 100 for a backend
// whose VM is running and 0 otherwise, unless a test's `probeOf` says what the probe sees of a
// running VM (e.g. a hung guest, or a node whose health check fails).
import type { Emulator } from "./emulator";
import { isObject, type Reply } from "./http";
import { lower } from "./resource-id";
import { getPath, str } from "./store";
import { ArmError, type Json, type ResourceDoc } from "./types";

interface Series {
  dimensions: Record<string, string>;
  value: number;
}

const AGGREGATIONS = ["average", "minimum", "maximum", "total", "count"];

export class MetricsService {
  private readonly overrides = new Map<string, Series[]>();
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
        value: names.map((name) => this.metric(resourceId, doc, name, filter, aggregations, start, end, stepMs)),
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
