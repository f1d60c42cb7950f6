// The Azure emulator: one HTTPS server on 127.0.0.1 for ARM, Key Vault secrets, metrics:getBatch,
// custom metrics ingestion and IMDS, plus one loopback listener per Key Vault (a vault's identity is
// its host). Tests drive it in-process or over the admin API under /_emulator/.
import * as fs from "node:fs";
import * as path from "node:path";
import * as https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createTestPki, type TestPki } from "../certs";
import { AdminApi } from "./admin";
import { ArmHandler } from "./arm-handler";
import { armCallerOf } from "./caller";
import { FaultInjector, type FaultEffect, type RequestFacts } from "./faults";
import { errorReply, readBody, parseJsonBody, send, type Reply } from "./http";
import { ImdsService } from "./imds";
import { Journal } from "./journal";
import { KeyVaultDataPlane } from "./keyvault-data-plane";
import { DEFAULT_LATENCY, type LatencyProfile } from "./latency";
import { MetricsService } from "./metrics";
import { OperationEngine, type LroSettings } from "./operations";
import { ALL_TYPES } from "./providers";
import type { VmPowerAction } from "./providers/compute";
import type { MysqlBackupTaken, MysqlRestore } from "./providers/mysql";
import type { StorageDataPlane } from "./providers/storage";
import { TypeRegistry } from "./registry";
import { lower, parseArmPath, typeKey } from "./resource-id";
import { RunCommandService, type RunCommandOptions } from "./run-command";
import { RESOURCE_GRAPH_PATH, ResourceGraphIndex, type WriteActor } from "./resource-graph";
import { ResourceStore } from "./store";
import { ArmError, type ResourceDoc } from "./types";

export interface EmulatorOptions {
  port?: number;
  lro?: Partial<LroSettings>;
  latency?: LatencyProfile;
  runCommand?: Partial<RunCommandOptions>;
  /** list page size (small values exercise the clients' nextLink paging) */
  pageSize?: number;
  pki?: TestPki;
  /** Key Vault tenant announced in the bearer challenge */
  tenantId?: string;
  /**
   * Public IP DNS labels other Azure customers hold in every region (default: DEFAULT_TAKEN_DNS_LABELS):
   * a public IP asking for one gets ARM's 400 `DnsRecordInUse`, as real short labels do
   */
  takenDnsLabels?: readonly string[];
  /** Resource Graph's lag behind ARM: a write shows in its queries this long after it was made (default 0) */
  resourceGraph?: { lagMs?: number };
  /**
   * Storage account names other Azure customers hold (default: DEFAULT_TAKEN_STORAGE_ACCOUNT_NAMES):
   * account names are global, so creating one answers 409 `StorageAccountAlreadyTaken` and
   * checkNameAvailability says `AlreadyExists`, as for a name another subscription uses
   */
  takenStorageAccountNames?: readonly string[];
}

/** Labels real Azure hands to someone else long before a stack asks: short common words. */
export const DEFAULT_TAKEN_DNS_LABELS: readonly string[] = ["demo", "jump", "test", "jumpbox", "guacamole", "bastion"];

/** Storage account names somebody took long ago: short common words. */
export const DEFAULT_TAKEN_STORAGE_ACCOUNT_NAMES: readonly string[] = ["test", "storage", "recordings", "jumpgate"];

const POLL_AO =
  /^\/subscriptions\/[^/]+\/providers\/[^/]+\/locations\/[^/]+\/(operations|azureasyncoperation|diskoperations|capsoperations|asyncoperations)\/([^/]+)$/i;
const POLL_LOC = /^\/subscriptions\/[^/]+\/providers\/[^/]+\/locations\/[^/]+\/operationresults\/([^/]+)$/i;
const POLL_RG = /^\/subscriptions\/[^/]+\/operationresults\/([^/]+)$/i;
/** private DNS keeps its operation status under the resource group */
const POLL_PRIVATE_DNS =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Network\/(privateDnsOperationStatuses|privateDnsOperationResults)\/([^/]+)$/i;
const METRICS = /^\/subscriptions\/([^/]+)\/metrics:getbatch$/i;
/** custom metrics ingestion: `{regional monitoring endpoint}{resource id}/metrics`, the region as a prefix here */
const INGEST = /^(?:\/_region\/([A-Za-z0-9]+))?(\/subscriptions\/.+)\/metrics$/i;
const SECRETS = /^\/(secrets|deletedsecrets)(\/|$)/i;

/** A record set of a public DNS zone changed (see Emulator.dnsRecordSetHook). */
export interface DnsRecordSetChange {
  op: "put" | "delete";
  /** the zone's name, e.g. example.com */
  zone: string;
  /** the record set's name relative to the zone ("@" for the apex) */
  name: string;
  /** its FQDN with the trailing dot, e.g. _acme-challenge.jump.example.com. */
  fqdn: string;
  /** A, TXT, ... */
  recordType: string;
  /** the record set's properties (TTL, TXTRecords, ...) on put */
  properties?: Record<string, unknown>;
}

export class Emulator {
  readonly store = new ResourceStore();
  readonly lro = new OperationEngine();
  readonly faults = new FaultInjector();
  readonly journal = new Journal();
  readonly types = new TypeRegistry();
  readonly arm = new ArmHandler(this);
  readonly keyVault: KeyVaultDataPlane;
  readonly metrics = new MetricsService(this);
  /** IMDS: the anonymous token endpoint and each VM's own (`imds.endpointFor(vmId)`) */
  readonly imds = new ImdsService(this);
  readonly runCommand: RunCommandService;
  /** Azure Resource Graph: the index of the store's resources, lagging ARM by `resourceGraph.lagMs` */
  readonly resourceGraph: ResourceGraphIndex;
  pageSize: number;
  latency: LatencyProfile;
  /** public IP DNS labels held by other customers' public IPs (any region); survives reset() */
  readonly takenDnsLabels: Set<string>;
  /** soft-deleted Key Vaults: their names stay taken until purged or recovered */
  readonly deletedVaults = new Map<
    string,
    { id: string; location: string; purgeProtection: boolean; deletionDate?: string; tags?: Record<string, string> }
  >();
  /** called when a MySQL server's admin password is set through ARM (tests wire it to a real MariaDB) */
  mysqlAdminPasswordHook?: (serverId: string, login: string, password: string) => Promise<void>;
  /**
   * called when a flexible server is created with `createMode: PointInTimeRestore`, as the create's
   * work (the create fails if it rejects): tests wire it to copy the source server's data into the
   * restored server's database
   */
  mysqlRestoreHook?: (restore: MysqlRestore) => Promise<void>;
  /** called when an on-demand backup is taken (before the PUT answers): tests may snapshot the data */
  mysqlBackupHook?: (backup: MysqlBackupTaken) => Promise<void>;
  /** called after a flexible server was deleted: tests stop the database that stood for it */
  mysqlServerDeleteHook?: (serverId: string) => Promise<void> | void;
  /**
   * The blob data plane behind emulated storage accounts (Azurite in tests): which blobs a container
   * holds (ARM refuses deleting a container or account whose blobs are under retention), the blob
   * endpoint an account announces, and the clock retention is measured with.
   */
  storageDataPlane: StorageDataPlane = {};
  /** storage account names held by other Azure customers; survives reset() */
  readonly takenStorageAccountNames: Set<string>;
  /**
   * called when a public DNS zone's record set is written (before the PUT answers) or deleted (after
   * it answered): tests wire it to a real DNS server, e.g. pebble-challtestsrv for DNS-01
   */
  dnsRecordSetHook?: (change: DnsRecordSetChange) => Promise<void> | void;
  /**
   * called when a VM power action (restart, redeploy, start, powerOff, deallocate, reimage) runs,
   * before it completes: the sandbox wires it to what runs "inside" the VM (a restart reboots it)
   */
  vmPowerHook?: (vm: ResourceDoc, action: VmPowerAction) => Promise<void> | void;
  /**
   * called when a VM (or a scale set instance) is provisioned from its image: created, or reimaged;
   * the operation has ended and the VM records the image it booted (`bootImageOf`). The node
   * stand-ins start its first boot here.
   */
  vmProvisionedHook?: (vm: ResourceDoc) => void;
  /**
   * called when a VM is deleted (directly, with its scale set, or as a scale set instance), after it
   * left the store: the sandbox wires it to stop what ran "inside" the VM. Not awaited by ARM; the
   * hook keeps track of its own work.
   */
  vmDeleteHook?: (vm: ResourceDoc) => Promise<void> | void;
  readonly tenantId: string;
  url = "";
  pki?: TestPki;
  private server?: https.Server;
  private readonly sockets = new Set<Socket>();
  private readonly extraServers = new Set<https.Server>();

  constructor(private readonly options: EmulatorOptions = {}) {
    this.types.register(ALL_TYPES);
    this.lro.settings = { ...this.lro.settings, ...(options.lro ?? {}) };
    this.pageSize = options.pageSize ?? 100;
    this.latency = options.latency ?? { scale: 0, types: DEFAULT_LATENCY };
    this.tenantId = options.tenantId ?? "72f988bf-86f1-41af-91ab-2d7cd011db47";
    this.takenDnsLabels = new Set(options.takenDnsLabels ?? DEFAULT_TAKEN_DNS_LABELS);
    this.takenStorageAccountNames = new Set(options.takenStorageAccountNames ?? DEFAULT_TAKEN_STORAGE_ACCOUNT_NAMES);
    this.keyVault = new KeyVaultDataPlane(this);
    this.runCommand = new RunCommandService(options.runCommand);
    this.resourceGraph = new ResourceGraphIndex(this);
    this.resourceGraph.lagMs = options.resourceGraph?.lagMs ?? 0;
    this.store.onWrite = (id, existed, after) => this.resourceGraph.record(id, existed, after);
  }

  get caPem(): string {
    return this.pki!.caPem;
  }

  get caPath(): string {
    return this.pki!.caPath;
  }

  async start(): Promise<string> {
    this.pki = this.options.pki ?? (await createTestPki());
    this.server = await this.listen(this.options.port ?? 0, (req, res) => this.handle(req, res, undefined));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** Opens another HTTPS listener on loopback (one per Key Vault). */
  async listen(
    port: number,
    handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  ): Promise<https.Server> {
    const server = https.createServer({ key: this.pki!.keyPem, cert: this.pki!.certPem }, (req, res) => {
      handler(req, res).catch((e: unknown) => {
        send(
          res,
          errorReply(new ArmError(500, "EmulatorError", e instanceof Error ? (e.stack ?? e.message) : String(e))),
        );
      });
    });
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    if (this.server) this.extraServers.add(server);
    return server;
  }

  async stop(): Promise<void> {
    this.lro.reset();
    this.runCommand.stopAll();
    for (const s of this.sockets) s.destroy();
    const servers = [this.server, ...this.extraServers].filter((s): s is https.Server => !!s);
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.extraServers.clear();
    this.server = undefined;
    // a test CA this emulator made for itself goes with it (a given one belongs to the caller)
    if (this.pki && !this.options.pki) fs.rmSync(path.dirname(this.pki.caPath), { recursive: true, force: true });
  }

  /** Forget every resource, secret, operation, fault and journal entry (listeners of vaults stay open). */
  reset(): void {
    this.store.clear();
    this.resourceGraph.reset();
    this.lro.reset();
    this.faults.clear();
    this.journal.clear();
    this.keyVault.reset();
    this.metrics.reset();
    this.imds.reset();
    this.deletedVaults.clear();
  }

  seed(docs: ResourceDoc[]): void {
    for (const d of docs) {
      if (!this.types.get(d.type)) throw new Error(`seed: unknown resource type ${d.type}`);
      this.store.set(structuredClone({ ...d, properties: d.properties ?? {} }));
    }
  }

  /** The stored resource as a GET would return it. */
  get(id: string): ResourceDoc | undefined {
    const d = this.store.get(id);
    return d ? this.arm.present(d) : undefined;
  }

  completeOperation(id: string, end?: Parameters<OperationEngine["complete"]>[1]) {
    return this.lro.complete(id, end);
  }

  /** Deletes a resource and everything below it, running each type's afterDelete. */
  deleteCascade(id: string): void {
    for (const d of this.store.subtree(id)) {
      this.store.delete(d.id);
      this.types.get(d.type)?.afterDelete?.(d, this);
    }
  }

  latencyFor(type: string, verb: string): number {
    const t = this.latency.types[typeKey(type)];
    const ms = t?.[verb] ?? t?.["*"] ?? 0;
    return ms * this.latency.scale;
  }

  // ------------------------------------------------------------------ request handling

  /** `vault` is set for requests that reached a Key Vault's own listener. */
  async handle(req: IncomingMessage, res: ServerResponse, vault: string | undefined): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    // ARM tolerates `//subscriptions/...` (clients that join "/" + a scope that starts with "/")
    const url = new URL((req.url ?? "/").replace(/^\/{2,}/, "/"), this.url || "https://127.0.0.1");
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    if (vault === undefined && path.startsWith("/_emulator/")) {
      return new AdminApi(this).handle(req, res, method, path, url);
    }
    if (vault === undefined && this.imds.serves(path)) {
      // the managed identity (and instance metadata) of a VM whose node agent runs in a sandbox
      return send(res, this.imds.handle(req, method, path, url.searchParams));
    }
    let bodyText = "";
    try {
      bodyText = await readBody(req);
    } catch (e) {
      if (e instanceof ArmError) return send(res, errorReply(e));
      throw e;
    }
    const facts = this.classify(method, path, vault);
    const fault = this.faults.take(facts);
    const caller = facts.operation === "secret" ? this.callerOf(req) : undefined;
    const record = (status: number, extra: { fault?: string } = {}) =>
      this.journal.record({
        method,
        path,
        apiVersion: url.searchParams.get("api-version") ?? undefined,
        operation: facts.operation,
        type: facts.type,
        action: facts.action,
        status,
        ...extra,
        ...(caller ? { caller } : {}),
        body: facts.operation === "secret" ? undefined : this.redact(facts.type, bodyText),
      });
    if (fault) {
      const handled = await this.applyTransportFault(fault, req, res, record);
      if (handled) return;
    }
    let reply: Reply;
    try {
      reply = await this.resourceGraph.actor.run(actorOf(req), async () => {
        try {
          return await this.dispatch(method, path, url, bodyText, facts, vault, req, fault);
        } finally {
          // a write's side effects on the other resources of its group, as that caller's writes
          if (method !== "GET" && method !== "HEAD") this.resourceGraph.sync(path);
        }
      });
    } catch (e) {
      if (!(e instanceof ArmError)) throw e;
      reply = errorReply(e, e.status === 401 ? { "www-authenticate": this.keyVault.challenge() } : undefined);
    }
    record(reply.status, fault ? { fault: fault.kind } : {});
    send(res, reply);
  }

  private async applyTransportFault(
    fault: FaultEffect,
    req: IncomingMessage,
    res: ServerResponse,
    record: (status: number, extra?: { fault?: string }) => void,
  ): Promise<boolean> {
    switch (fault.kind) {
      case "reset":
        record(0, { fault: "reset" });
        req.socket.destroy();
        return true;
      case "hang":
        record(0, { fault: "hang" });
        return true; // never answered; stop() destroys the socket
      case "delay":
        await new Promise((r) => setTimeout(r, fault.ms));
        return false;
      case "status": {
        const headers: Record<string, string> = {};
        if (fault.retryAfterSeconds !== undefined) headers["retry-after"] = String(fault.retryAfterSeconds);
        if (fault.retryAfterMs !== undefined) headers["retry-after-ms"] = String(fault.retryAfterMs);
        const code = fault.code ?? defaultCode(fault.status);
        record(fault.status, { fault: "status" });
        send(
          res,
          errorReply(new ArmError(fault.status, code, fault.message ?? `Injected ${fault.status} ${code}.`), headers),
        );
        return true;
      }
      default:
        return false; // LRO effects are applied by the handler
    }
  }

  private classify(method: string, path: string, vault: string | undefined): RequestFacts {
    if (vault !== undefined || SECRETS.test(path))
      return { method, path, operation: "secret", type: "Microsoft.KeyVault/vaults/secrets" };
    if (METRICS.test(path)) return { method, path, operation: "metrics" };
    if (RESOURCE_GRAPH_PATH.test(path)) return { method, path, operation: "resource-graph" };
    if (method === "POST" && ingestTarget(path)) return { method, path, operation: "metrics-ingest" };
    if (POLL_AO.test(path) || POLL_LOC.test(path) || POLL_RG.test(path) || POLL_PRIVATE_DNS.test(path))
      return { method, path, operation: "poll" };
    const p = parseArmPath(path);
    if (!p) return { method, path, operation: "unknown" };
    if (p.trailing !== undefined) {
      if (method === "POST") {
        const doc = this.store.get(p.id);
        return { method, path, operation: "action", type: doc?.type ?? p.type, action: p.trailing };
      }
      return { method, path, operation: "list", type: p.providerOnly ? `${p.type}/${p.trailing}` : p.type };
    }
    const op =
      { GET: "get", PUT: "put", PATCH: "patch", DELETE: "delete", HEAD: "head" }[method] ?? method.toLowerCase();
    return { method, path, operation: op, type: p.type };
  }

  private async dispatch(
    method: string,
    path: string,
    url: URL,
    bodyText: string,
    facts: RequestFacts,
    vault: string | undefined,
    req: IncomingMessage,
    fault: FaultEffect | undefined,
  ): Promise<Reply> {
    if (facts.operation === "secret") {
      return this.keyVault.handle(vault ?? "", method, path, url.searchParams, bodyText, req.headers.authorization);
    }
    if (facts.operation === "metrics-ingest") {
      const target = ingestTarget(path)!;
      return this.metrics.ingest(target.resourceId, target.region, bodyText, req.headers);
    }
    this.requireBearer(req);
    if (facts.operation === "metrics") {
      const sub = METRICS.exec(path)![1];
      return this.metrics.getBatch(sub, url.searchParams, parseJsonBody(bodyText));
    }
    if (facts.operation === "poll") return this.poll(path, url);
    if (facts.operation === "resource-graph") {
      if (method !== "POST") throw new ArmError(405, "MethodNotAllowed", `The ${method} method is not allowed.`);
      return this.resourceGraph.query(url.searchParams.get("api-version"), parseJsonBody(bodyText));
    }
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion) {
      throw new ArmError(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
      );
    }
    const p = parseArmPath(path);
    if (!p) throw new ArmError(400, "InvalidRequestUri", `The request URI '${path}' is not valid.`);
    this.arm.currentPath = path;
    return this.arm.handle({
      method,
      path: p,
      query: url.searchParams,
      body: parseJsonBody(bodyText),
      apiVersion,
      fault,
      ifMatch: typeof req.headers["if-match"] === "string" ? req.headers["if-match"] : undefined,
      caller: armCallerOf(req.headers.authorization),
    });
  }

  /** The managed identity a request's bearer token stands for, when the emulator's IMDS issued it. */
  private callerOf(req: IncomingMessage): string | undefined {
    const bearer = /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? "")?.[1];
    return bearer ? this.imds.tokenInfo(bearer)?.principalId : undefined;
  }

  private requireBearer(req: IncomingMessage): void {
    const auth = req.headers.authorization ?? "";
    if (!/^Bearer\s+\S+/i.test(auth)) {
      throw new ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
    }
  }

  private poll(path: string, url: URL): Reply {
    const privateDns = POLL_PRIVATE_DNS.exec(path);
    const id = (POLL_AO.exec(path)?.[2] ?? POLL_LOC.exec(path)?.[1] ?? POLL_RG.exec(path)?.[1] ?? privateDns?.[2])!;
    const op = this.lro.get(id);
    if (!op) throw new ArmError(404, "OperationNotFound", `The operation '${id}' could not be found.`);
    // compute's Location is its Azure-AsyncOperation URL plus monitor=true
    const asLocation = privateDns
      ? lower(privateDns[1]) === "privatednsoperationresults"
      : POLL_AO.test(path)
        ? url.searchParams.get("monitor") === "true"
        : true;
    return this.arm.pollOperation(op, asLocation, url.toString());
  }

  private redact(type: string | undefined, bodyText: string): unknown {
    if (!bodyText) return undefined;
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      return "<non-JSON body>";
    }
    const def = type ? this.types.get(type) : undefined;
    for (const path of def?.writeOnly ?? []) {
      let cur: unknown = body;
      for (const k of path.slice(0, -1))
        cur = cur && typeof cur === "object" ? (cur as Record<string, unknown>)[k] : undefined;
      const last = path[path.length - 1];
      if (cur && typeof cur === "object" && last in cur) (cur as Record<string, unknown>)[last] = "<redacted>";
    }
    return body;
  }
}

/**
 * Who a write comes from, for Resource Graph's change records: the principal a test names in
 * `x-ms-client-principal-name` (a person changing things out of band), else the app (Jumpgate's
 * user agent) or an unknown caller.
 */
function actorOf(req: IncomingMessage): WriteActor {
  const agent = String(req.headers["user-agent"] ?? "");
  const named = req.headers["x-ms-client-principal-name"];
  const jumpgate = /\bjumpgate\b/i.test(agent);
  return {
    changedBy: typeof named === "string" && named !== "" ? named : jumpgate ? "jumpgate" : "unknown",
    clientType: jumpgate ? "Jumpgate" : /azsdk-js/i.test(agent) ? "Azure SDK for JavaScript" : "Unspecified",
  };
}

/** The resource (and the regional endpoint's region, if given) a custom metrics post is about. */
function ingestTarget(path: string): { resourceId: string; region?: string } | undefined {
  const m = INGEST.exec(path);
  if (!m) return undefined;
  const p = parseArmPath(m[2]);
  // a resource, not a subscription, resource group or provider namespace
  if (!p || p.trailing !== undefined || p.providerOnly || !p.type.includes("/")) return undefined;
  if (lower(p.type) === "microsoft.resources/resourcegroups") return undefined;
  return { resourceId: p.id, ...(m[1] ? { region: m[1] } : {}) };
}

function defaultCode(status: number): string {
  if (status === 429) return "TooManyRequests";
  if (status === 409) return "Conflict";
  if (status === 503) return "ServiceUnavailable";
  if (status >= 500) return "InternalServerError";
  return "BadRequest";
}
