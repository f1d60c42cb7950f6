// Azure Resource Graph over the emulator's resources: `POST /providers/Microsoft.ResourceGraph/resources`
// (api-versions 2021-03-01, 2022-10-01 and 2024-04-01: the same QueryRequest / QueryResponse shapes)
// answering the KQL subset in kql.ts over the tables Azure keeps these types in ("Azure Resource Graph
// table and resource type reference"):
//   resources               tracked resources (those with a location: top-level ones and tracked
//                           children such as private DNS zone virtual network links and managed run
//                           commands) but resource groups, as a GET returns them, with Resource
//                           Graph's own column casing (type, location and resourceGroup lower case).
//                           Proxy children (MySQL databases, configurations and firewall rules) are
//                           in no table, as in Azure.
//   resourcecontainers      resource groups
//   authorizationresources  role assignments
//   computeresources        Uniform scale sets' instances (microsoft.compute/virtualmachinescalesets/
//                           virtualmachines, with the power state in properties.extended.instanceView
//                           as the documented query reads it) and their network interfaces
//                           (.../virtualmachines/networkinterfaces), as their GETs return them. A
//                           Flexible scale set's instances are VMs, in `resources`.
//                           https://learn.microsoft.com/azure/governance/resource-graph/reference/supported-tables-resources#computeresources
//                           https://learn.microsoft.com/azure/governance/resource-graph/samples/samples-by-table#computeresources
//   resourcechanges         one change record per write (Create / Update / Delete) of a resource of the
//                           `resources` table, with who, when, the operation and the changed property
//                           paths, shaped as `Microsoft.Resources/changes`
// Resource Graph is an index fed by ARM's change notifications, so it lags ARM: here each write
// becomes visible `lagMs` after it was made (set per emulator, or through the admin API), and until
// then queries see the version before it. A change of the lag applies to writes made after it.
// Writes reach the index through the store's write hook; a document changed in place (a provider's
// side effect on another resource, a test editing a stored document) is noticed the next time the
// index or ARM's change times are read (`sync`), and counts as a write made then.
// Paging follows the service: `$top` (default 100, at most 1000) rows per page, a `$skipToken` when
// more rows match and the rows carry `id` (without `id`, `resultTruncated: "true"` instead), `$skip`,
// `totalRecords` and `count`. A query outside the subset is a 400 `BadRequest` with `InvalidQuery`.
import { createHash, randomUUID } from "node:crypto";
import { AsyncLocalStorage } from "node:async_hooks";
import type { Emulator } from "./emulator";
import { isObject, type Reply } from "./http";
import { KqlError, parseKql, runKql } from "./kql";
import { powerStateOf } from "./providers/compute";
import { lower, resourceGroupIdOf } from "./resource-id";
import type { Json, ResourceDoc } from "./types";

export const RESOURCE_GRAPH_API_VERSIONS = ["2021-03-01", "2022-10-01", "2024-04-01"];
export const RESOURCE_GRAPH_PATH = /^\/providers\/microsoft\.resourcegraph\/resources$/i;
const DEFAULT_TOP = 100;
const MAX_TOP = 1000;
/** versions and change records kept per resource (older ones are superseded or too old to matter) */
const MAX_VERSIONS = 8;
const CHANGES_LISTED = 25;
/** the `computeresources` types the emulator holds: a Uniform scale set's instances and their NICs */
const COMPUTE_RESOURCES_TYPES = new Set([
  "microsoft.compute/virtualmachinescalesets/virtualmachines",
  "microsoft.compute/virtualmachinescalesets/virtualmachines/networkinterfaces",
]);

/** Who made the write a request carries (the app, or a person changing things out of band). */
export interface WriteActor {
  changedBy: string;
  clientType: string;
}

interface Version {
  /** when ARM made the write (ms) */
  at: number;
  /** when Resource Graph shows it (ms) */
  visibleFrom: number;
  /** the document as a GET returned it right after the write; undefined: deleted */
  doc: ResourceDoc | undefined;
}

interface ChangeRecord {
  visibleFrom: number;
  /** of a resource the `resources` table holds: change history covers only those */
  inResources: boolean;
  row: Json;
}

export class ResourceGraphIndex {
  /** how long after a write Resource Graph shows it */
  lagMs = 0;
  private readonly versions = new Map<string, Version[]>();
  /** each stored document as it was last recorded (JSON), to notice documents changed in place */
  private readonly recorded = new Map<string, string>();
  private readonly created = new Map<string, number>();
  private readonly changes: ChangeRecord[] = [];
  /** who the request being handled is, for change records */
  readonly actor = new AsyncLocalStorage<WriteActor>();

  constructor(
    private readonly emu: Emulator,
    /** the index's time: when writes happen and become visible (tests may set it) */
    public clock: () => number = Date.now,
  ) {}

  reset(): void {
    this.versions.clear();
    this.recorded.clear();
    this.created.clear();
    this.changes.length = 0;
  }

  /** Called by the store on every write and delete. */
  record(id: string, existed: boolean, after: ResourceDoc | undefined): void {
    const key = lower(id);
    const at = this.clock();
    if (after) this.recorded.set(key, JSON.stringify(after));
    else this.recorded.delete(key);
    const visibleFrom = at + this.lagMs;
    const presented = after ? this.emu.arm.present(after) : undefined;
    const list = this.versions.get(key) ?? [];
    // what the resource was before this write: the last version recorded (callers may have changed
    // the stored object in place before writing it back)
    const before = existed ? list[list.length - 1]?.doc : undefined;
    list.push({ at, visibleFrom, doc: presented });
    // a version is needed only until a later one is visible
    const now = this.clock();
    while (list.length > 1 && (list.length > MAX_VERSIONS || list[1].visibleFrom <= now)) list.shift();
    this.versions.set(key, list);
    if (after && !existed) this.created.set(key, at);
    if (!after) this.created.delete(key);
    const type = after?.type ?? before?.type ?? "";
    this.changes.push({
      visibleFrom,
      inResources: this.tableOf(type) === "resources",
      row: this.changeRow(id, existed, before, presented, at),
    });
    if (this.changes.length > 10_000) this.changes.splice(0, this.changes.length - 10_000);
  }

  /**
   * Records, as writes made now, the documents changed in place since they were last recorded and
   * the ones gone without a delete: what Resource Graph and ARM's change times show never depends on
   * how a change was made. With `scope` (a resource id) only the documents of its resource group are
   * looked at, by whoever made the request being handled (a provider's side effect on a related
   * resource: a NIC's write changing its load balancer's backend pool); without, every document, by an
   * unknown actor (a test editing the store, the platform).
   */
  sync(scope?: string): void {
    const prefix = scope ? groupPrefixOf(scope) : "";
    if (scope && !prefix) return;
    const inScope = (key: string) => !prefix || key === prefix || key.startsWith(`${prefix}/`);
    const seen = new Set<string>();
    const changed: ResourceDoc[] = [];
    for (const doc of this.emu.store.all()) {
      const key = lower(doc.id);
      if (!inScope(key)) continue;
      seen.add(key);
      if (this.recorded.get(key) !== JSON.stringify(doc)) changed.push(doc);
    }
    const gone = [...this.recorded.keys()].filter((key) => inScope(key) && !seen.has(key));
    if (changed.length === 0 && gone.length === 0) return;
    const apply = () => {
      for (const doc of changed) this.record(doc.id, this.recorded.has(lower(doc.id)), doc);
      for (const key of gone) this.record(this.versions.get(key)?.at(-1)?.doc?.id ?? key, true, undefined);
    };
    if (scope && this.actor.getStore()) apply();
    else this.actor.run({ changedBy: "unknown", clientType: "Unspecified" }, apply);
  }

  /** When ARM last changed the resource, and when it was created (ARM's `changedTime` / `createdTime`). */
  times(id: string): { changedTime?: string; createdTime?: string } {
    const list = this.versions.get(lower(id));
    const last = list?.[list.length - 1];
    const created = this.created.get(lower(id));
    return {
      ...(last ? { changedTime: new Date(last.at).toISOString() } : {}),
      ...(created !== undefined ? { createdTime: new Date(created).toISOString() } : {}),
    };
  }

  /** The documents Resource Graph shows now. */
  private visibleDocs(): ResourceDoc[] {
    const now = this.clock();
    const out: ResourceDoc[] = [];
    for (const doc of this.emu.store.all()) {
      const list = this.versions.get(lower(doc.id));
      const latest = list?.[list.length - 1];
      if (!latest || latest.visibleFrom <= now) {
        out.push(this.emu.arm.present(doc)); // in sync: the live document
        continue;
      }
      const shown = [...(list ?? [])].reverse().find((v) => v.visibleFrom <= now);
      if (shown?.doc) out.push(structuredClone(shown.doc));
    }
    // deleted in ARM, not yet in the index
    for (const [key, list] of this.versions) {
      if (this.emu.store.has(key)) continue;
      const shown = [...list].reverse().find((v) => v.visibleFrom <= this.clock());
      if (shown?.doc) out.push(structuredClone(shown.doc));
    }
    return out;
  }

  /** The Resource Graph table a resource type is kept in, if any. */
  tableOf(
    type: string,
  ): "resources" | "resourcecontainers" | "authorizationresources" | "computeresources" | undefined {
    const t = lower(type);
    if (t === "microsoft.resources/resourcegroups") return "resourcecontainers";
    if (t === "microsoft.authorization/roleassignments") return "authorizationresources";
    if (COMPUTE_RESOURCES_TYPES.has(t)) return "computeresources";
    return this.emu.types.get(type)?.tracked ? "resources" : undefined;
  }

  private table(name: string): Json[] {
    switch (name) {
      case "resources":
        return this.visibleDocs()
          .filter((d) => this.tableOf(d.type) === "resources")
          .map((d) => this.withExtended(resourceRow(d)));
      case "resourcecontainers":
        return this.visibleDocs()
          .filter((d) => this.tableOf(d.type) === "resourcecontainers")
          .map(containerRow);
      case "authorizationresources":
        return this.visibleDocs()
          .filter((d) => this.tableOf(d.type) === "authorizationresources")
          .map(resourceRow);
      case "computeresources":
        return this.visibleDocs()
          .filter((d) => this.tableOf(d.type) === "computeresources")
          .map((d) => this.withExtended(resourceRow(d)));
      case "resourcechanges": {
        const now = this.clock();
        return this.changes.filter((c) => c.visibleFrom <= now && c.inResources).map((c) => structuredClone(c.row));
      }
      default:
        throw new KqlError(
          `table '${name}' is not one this emulator holds (resources, resourcecontainers, authorizationresources, computeresources, resourcechanges)`,
          0,
        );
    }
  }

  /**
   * A VM's row (and a Uniform scale set instance's, in `computeresources`) carries what Resource
   * Graph adds beyond ARM's GET: `properties.extended.instanceView` with the power state
   * (`PowerState/running`, ...), as the documented VM and "Virtual Machine Scale Set Uniform
   * orchestration" queries read it.
   */
  private withExtended(row: Json): Json {
    const instance = row.type === "microsoft.compute/virtualmachinescalesets/virtualmachines";
    if ((row.type !== "microsoft.compute/virtualmachines" && !instance) || typeof row.id !== "string") return row;
    const power = powerStateOf(this.emu, row.id);
    const display = { running: "VM running", stopped: "VM stopped", deallocated: "VM deallocated" }[power];
    const properties = isObject(row.properties) ? row.properties : {};
    return {
      ...row,
      properties: {
        ...properties,
        extended: {
          instanceView: { powerState: { code: `PowerState/${power}`, level: "Info", displayStatus: display } },
        },
      },
    };
  }

  /** POST /providers/Microsoft.ResourceGraph/resources */
  query(apiVersion: string | null, body: unknown): Reply {
    if (!apiVersion || !RESOURCE_GRAPH_API_VERSIONS.includes(apiVersion)) {
      return badRequest(
        "InvalidApiVersionParameter",
        `The api-version '${apiVersion ?? ""}' is invalid. The supported versions are '${RESOURCE_GRAPH_API_VERSIONS.join(",")}'.`,
      );
    }
    if (!isObject(body) || typeof body.query !== "string") {
      return badRequest("InvalidRequestContent", "The request content was invalid: 'query' is required.");
    }
    const options = isObject(body.options) ? body.options : {};
    const top = options.$top === undefined ? DEFAULT_TOP : Number(options.$top);
    if (!Number.isInteger(top) || top < 1 || top > MAX_TOP) {
      return badRequest("InvalidRequestContent", `$top must be a whole number from 1 to ${MAX_TOP}.`);
    }
    if (options.resultFormat !== undefined && options.resultFormat !== "objectArray") {
      return badRequest("InvalidRequestContent", "Only the objectArray result format is supported by this emulator.");
    }
    const subscriptions = Array.isArray(body.subscriptions)
      ? body.subscriptions.map((s) => lower(String(s)))
      : undefined;
    let parsed;
    let rows: Json[];
    this.sync();
    try {
      parsed = parseKql(body.query);
      const scoped = this.table(parsed.table).filter(
        (r) =>
          !subscriptions || subscriptions.includes(lower(typeof r.subscriptionId === "string" ? r.subscriptionId : "")),
      );
      rows = runKql(parsed, scoped, this.clock());
    } catch (e) {
      if (e instanceof KqlError) return invalidQuery(e);
      throw e;
    }
    const fingerprint = createHash("sha256")
      .update(JSON.stringify([body.query, subscriptions ?? []]))
      .digest("hex")
      .slice(0, 16);
    let offset = options.$skip === undefined ? 0 : Number(options.$skip);
    if (typeof options.$skipToken === "string") {
      const token = decodeSkipToken(options.$skipToken);
      if (!token || token.q !== fingerprint) {
        return badRequest("InvalidRequestContent", "The $skipToken is not valid for this query and these scopes.");
      }
      offset = token.o;
    }
    if (!Number.isInteger(offset) || offset < 0)
      return badRequest("InvalidRequestContent", "$skip must be a whole number >= 0.");
    const page = rows.slice(offset, offset + top);
    const more = offset + page.length < rows.length;
    const pageable = rows.every((r) => typeof r.id === "string");
    return {
      status: 200,
      body: {
        totalRecords: rows.length,
        count: page.length,
        data: page,
        facets: [],
        resultTruncated: more && !pageable ? "true" : "false",
        ...(more && pageable ? { $skipToken: encodeSkipToken({ o: offset + page.length, q: fingerprint }) } : {}),
      },
    };
  }

  private changeRow(
    id: string,
    existed: boolean,
    before: ResourceDoc | undefined,
    after: ResourceDoc | undefined,
    at: number,
  ): Json {
    const changeType = !existed ? "Create" : !after ? "Delete" : "Update";
    const type = after?.type ?? before?.type ?? "";
    const changes = changeType === "Update" && before && after ? propertyChanges(before, after) : {};
    const actor = this.actor.getStore() ?? { changedBy: "System", clientType: "Unspecified" };
    const changeId = randomUUID();
    const rg = resourceGroupIdOf(id);
    return {
      id: `${id}/providers/Microsoft.Resources/changes/${changeId}`,
      name: changeId,
      type: "microsoft.resources/changes",
      tenantId: this.emu.tenantId,
      subscriptionId: /^\/subscriptions\/([^/]+)/i.exec(id)?.[1] ?? "",
      resourceGroup: rg ? lower(rg.split("/").pop()!) : "",
      location: "",
      properties: {
        targetResourceId: id,
        targetResourceType: lower(type),
        changeType,
        changeAttributes: {
          previousResourceSnapshotId: null,
          newResourceSnapshotId: null,
          correlationId: randomUUID(),
          changedByType: actor.changedBy === "System" ? "Other" : "User",
          changesCount: Object.keys(changes).length,
          clientType: actor.clientType,
          changedBy: actor.changedBy,
          operation: `${lower(type)}/${changeType === "Delete" ? "delete" : "write"}`,
          timestamp: new Date(at).toISOString(),
        },
        changes,
      },
    };
  }
}

/** `/subscriptions/{s}/resourcegroups/{g}` (lower case) of an id at or below a resource group. */
function groupPrefixOf(id: string): string {
  return /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+/.exec(lower(id))?.[0] ?? "";
}

/** A resource as a row of the `resources` table. */
function resourceRow(doc: ResourceDoc): Json {
  const rg = resourceGroupIdOf(doc.id);
  return {
    id: doc.id,
    name: doc.name,
    type: lower(doc.type),
    tenantId: "",
    kind: doc.kind ?? "",
    location: typeof doc.location === "string" ? lower(doc.location.replace(/\s+/g, "")) : "",
    resourceGroup: rg ? lower(rg.split("/").pop()!) : "",
    subscriptionId: /^\/subscriptions\/([^/]+)/i.exec(doc.id)?.[1] ?? "",
    managedBy: doc.managedBy ?? "",
    sku: doc.sku ?? null,
    plan: doc.plan ?? null,
    properties: doc.properties ?? {},
    tags: doc.tags ?? {},
    identity: doc.identity ?? null,
    zones: doc.zones ?? null,
    extendedLocation: doc.extendedLocation ?? null,
  };
}

function containerRow(doc: ResourceDoc): Json {
  return {
    ...resourceRow(doc),
    type: "microsoft.resources/subscriptions/resourcegroups",
    resourceGroup: lower(doc.name),
  };
}

/** Changed property paths between two versions, as the change record lists them (at most CHANGES_LISTED). */
function propertyChanges(before: Json, after: Json): Json {
  const out: Json = {};
  const walk = (a: unknown, b: unknown, path: string) => {
    if (Object.keys(out).length >= CHANGES_LISTED) return;
    if (isObject(a) && isObject(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], path ? `${path}.${k}` : k);
      return;
    }
    if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
      a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`));
      return;
    }
    if (JSON.stringify(a) === JSON.stringify(b)) return;
    out[path] = {
      previousValue: a === undefined ? null : typeof a === "string" ? a : JSON.stringify(a),
      newValue: b === undefined ? null : typeof b === "string" ? b : JSON.stringify(b),
      changeCategory: path.startsWith("tags") || path.startsWith("properties") ? "User" : "System",
      propertyChangeType: a === undefined ? "Insert" : b === undefined ? "Remove" : "Update",
    };
  };
  const { id: _a, ...x } = before;
  const { id: _b, ...y } = after;
  walk(x, y, "");
  return out;
}

function encodeSkipToken(t: { o: number; q: string }): string {
  return Buffer.from(JSON.stringify(t)).toString("base64");
}

function decodeSkipToken(s: string): { o: number; q: string } | undefined {
  try {
    const t = JSON.parse(Buffer.from(s, "base64").toString("utf8")) as { o?: unknown; q?: unknown };
    return typeof t.o === "number" && typeof t.q === "string" ? { o: t.o, q: t.q } : undefined;
  } catch {
    return undefined;
  }
}

function badRequest(code: string, message: string): Reply {
  return { status: 400, body: { error: { code, message } } };
}

function invalidQuery(e: KqlError): Reply {
  return {
    status: 400,
    body: {
      error: {
        code: "BadRequest",
        message: `Please provide below info when asking for support: timestamp = ${new Date().toISOString()}, correlationId = ${randomUUID()}.`,
        details: [
          {
            code: "InvalidQuery",
            message:
              "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying.",
          },
          { code: "ParserFailure", message: e.message, line: 1, characterPositionInLine: e.position },
        ],
      },
    },
  };
}
