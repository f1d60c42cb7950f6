// Microsoft.DBforMySQL flexible servers (api 2021-05-01 as sent by @azure/arm-mysql-flexible 3.1.0):
// private access through a delegated subnet and a private DNS zone, default server parameters,
// databases, firewall rules, configurations and the admin password, which is never echoed and can
// be wired to a real MariaDB by a test (`emulator.mysqlAdminPasswordHook`).
// Backups: the automatic first snapshot of every new server, on-demand backups (`backups/{name}` PUT,
// in the stable 2022-01-01 and 2023-12-30 versions, not in 2021-05-01), and a server created from
// another's backups (`createMode: PointInTimeRestore`), which inherits the source's settings,
// databases, firewall rules and server parameters as Azure documents it; the restored data itself is
// a test's to copy (`emulator.mysqlRestoreHook`).
import { randomUUID } from "node:crypto";
import type { Emulator } from "../emulator";
import { lower } from "../resource-id";
import { getPath, str } from "../store";
import { ArmError, type Json, type ResourceDoc, type TypeDefinition } from "../types";
import { arrayAt, props, requireRef, resolve } from "./common";

const SERVER = "Microsoft.DBforMySQL/flexibleServers";
const API = ["2021-05-01", "2022-01-01", "2023-06-01-preview", "2023-06-30", "2023-12-30"];
/** Backups_Put is in the 2022-01-01 stable spec onwards; 2021-05-01 reads backups only */
const BACKUP_PUT_API = API.filter((v) => v !== "2021-05-01");

/** A server being created from another's backups (see Emulator.mysqlRestoreHook). */
export interface MysqlRestore {
  serverId: string;
  sourceServerId: string;
  /** ISO 8601 */
  restorePointInTime: string;
}

/** An on-demand backup that was just taken (see Emulator.mysqlBackupHook). */
export interface MysqlBackupTaken {
  serverId: string;
  /** the name Azure gave it (`customer_{time}_{uuid}_{requested}`) */
  backupName: string;
  completedTime: string;
}

/** Server parameters a point-in-time restore resets to their defaults (concepts-backup-restore, "Point-in-time restore"). */
const RESET_BY_RESTORE = ["time_zone", "event_scheduler"];

function isRestore(doc: ResourceDoc): boolean {
  return lower(str(getPath(doc, ["properties", "createMode"]) ?? "")) === "pointintimerestore";
}

const DEFAULT_CONFIGURATIONS: Record<string, string> = {
  require_secure_transport: "ON",
  // Azure's documented default (TLS 1.3 is opt-in), so a stack that pins 1.2 and 1.3 writes it
  tls_version: "TLSv1.2",
  max_connections: "341",
  time_zone: "SYSTEM",
  innodb_buffer_pool_size: "536870912",
};

const flexibleServers: TypeDefinition = {
  type: SERVER,
  apiVersions: API,
  tracked: true,
  put: "mysql",
  patch: "mysql",
  delete: "mysql",
  provisioningState: false,
  writeOnly: [["properties", "administratorLoginPassword"]],
  validate(doc, ctx) {
    const p = props(doc);
    if (!ctx.existing && isRestore(doc)) {
      validateRestore(doc, ctx.emulator);
    } else if (!ctx.existing) {
      if (typeof p.administratorLogin !== "string") throw missing("administratorLogin");
      if (ctx.emulator.store.getSecret(doc.id, "properties.administratorLoginPassword") === undefined)
        throw missing("administratorLoginPassword");
      if (!getPath(doc, ["sku", "name"]) || !getPath(doc, ["sku", "tier"])) throw missing("sku");
    } else if (
      p.administratorLogin !== undefined &&
      p.administratorLogin !== getPath(ctx.existing, ["properties", "administratorLogin"])
    ) {
      throw new ArmError(
        400,
        "CannotChangeAdministratorLogin",
        "The administrator login of a server cannot be changed.",
      );
    }
    if (p.version !== undefined && !["5.7", "8.0.21"].includes(str(p.version))) {
      throw new ArmError(
        400,
        "InvalidParameterValue",
        `Invalid value given for parameter version: ${str(p.version)}. Specify a valid parameter value.`,
      );
    }
    const subnetId = getPath(p, ["network", "delegatedSubnetResourceId"]) as string | undefined;
    if (subnetId) {
      const subnet = requireRef(ctx.emulator, subnetId, doc, "delegatedSubnetResourceId");
      const delegated = arrayAt(subnet, "properties", "delegations").some(
        (d) => lower(str(getPath(d, ["properties", "serviceName"]))) === "microsoft.dbformysql/flexibleservers",
      );
      if (!delegated) {
        throw new ArmError(
          400,
          "SubnetNotDelegated",
          `Subnet ${subnetId} is not delegated to Microsoft.DBforMySQL/flexibleServers.`,
        );
      }
      const zone = getPath(p, ["network", "privateDnsZoneResourceId"]) as string | undefined;
      if (!zone) throw missing("network.privateDnsZoneResourceId");
      requireRef(ctx.emulator, zone, doc, "privateDnsZoneResourceId");
    }
    const storage = Number(getPath(p, ["storage", "storageSizeGB"]) ?? 20);
    if (!Number.isInteger(storage) || storage < 20 || storage > 16384) {
      throw new ArmError(400, "InvalidStorageSize", "Storage size must be an integer between 20 and 16384 GB.");
    }
    const ha = lower(str(getPath(p, ["highAvailability", "mode"]) ?? "Disabled"));
    if (ha !== "disabled" && lower(str(getPath(doc, ["sku", "tier"]))) === "burstable") {
      throw new ArmError(
        400,
        "HANotSupportedForBurstableSkus",
        "High availability is not supported for the Burstable pricing tier.",
      );
    }
  },
  normalize(doc, ctx) {
    if (!ctx.existing && isRestore(doc)) inheritFromSource(doc, ctx.emulator);
    const p = props(doc);
    const old = ctx.existing ? props(ctx.existing) : {};
    p.administratorLogin ??= old.administratorLogin;
    p.fullyQualifiedDomainName = `${doc.name.toLowerCase()}.mysql.database.azure.com`;
    p.state = "Ready";
    p.version ??= old.version ?? "5.7";
    const network = (p.network ?? {}) as Json;
    network.publicNetworkAccess = network.delegatedSubnetResourceId ? "Disabled" : "Enabled";
    p.network = network;
    p.storage = { storageSizeGB: 20, iops: 360, autoGrow: "Enabled", ...(p.storage ?? {}) };
    p.backup = { backupRetentionDays: 7, geoRedundantBackup: "Disabled", ...(p.backup ?? {}) };
    p.highAvailability = { mode: "Disabled", ...(p.highAvailability ?? {}) };
    (p.highAvailability as Json).state =
      lower(str((p.highAvailability as Json).mode)) === "disabled" ? "NotEnabled" : "Healthy";
  },
  latencyVerb(doc) {
    return isRestore(doc) ? "restore" : undefined;
  },
  async work(doc, ctx, written) {
    const restore = ctx.emulator.store.getSecret(doc.id, "restoredFrom") as MysqlRestore | undefined;
    if (!ctx.existing && restore) {
      await ctx.emulator.mysqlRestoreHook?.(restore);
      return;
    }
    if (!written.has("properties.administratorLoginPassword")) return;
    const password = ctx.emulator.store.getSecret(doc.id, "properties.administratorLoginPassword");
    const login = str(getPath(doc, ["properties", "administratorLogin"]) ?? "");
    await ctx.emulator.mysqlAdminPasswordHook?.(doc.id, login, str(password));
  },
  afterCommit(doc, ctx) {
    const emu = ctx.emulator;
    if (!ctx.existing) {
      emu.store.setSecret(doc.id, "createdAt", Date.now());
      const restore = emu.store.getSecret(doc.id, "restoredFrom") as MysqlRestore | undefined;
      if (restore) copyChildren(emu, restore.sourceServerId, doc.id);
      // "The first snapshot backup is scheduled immediately after a server is created"
      recordBackup(emu, doc.id, automaticBackupName(new Date()), "Automatic");
    }
    for (const [name, value] of Object.entries(DEFAULT_CONFIGURATIONS)) {
      const id = `${doc.id}/configurations/${name}`;
      if (ctx.emulator.store.get(id)) continue;
      ctx.emulator.store.set({
        id,
        name,
        type: `${SERVER}/configurations`,
        properties: {
          value,
          defaultValue: value,
          dataType: "String",
          source: "system-default",
          isReadOnly: "False",
          isConfigPendingRestart: "False",
          isDynamicConfig: "True",
        },
      });
    }
  },
  present(doc, _query, emu) {
    // the earliest point a restore can go back to: the server's creation, within its retention
    const created = emu.store.getSecret(doc.id, "createdAt") as number | undefined;
    const backup = props(doc).backup as Json | undefined;
    if (created !== undefined && backup) {
      const days = Number(backup.backupRetentionDays ?? 7);
      backup.earliestRestoreDate = new Date(Math.max(created, Date.now() - days * 86_400_000)).toISOString();
    }
    return doc;
  },
  afterDelete(doc, emu) {
    // "If you delete the server, all backups that belong to the server are also deleted" (they are children)
    void Promise.resolve(emu.mysqlServerDeleteHook?.(doc.id)).catch(() => undefined);
  },
  actions: {
    restart: { style: "mysql", start: () => ({}) },
    start: { style: "mysql", start: ({ emulator, doc }) => ({ commit: () => setState(emulator, doc, "Ready") }) },
    stop: { style: "mysql", start: ({ emulator, doc }) => ({ commit: () => setState(emulator, doc, "Stopped") }) },
    updateconfigurations: {
      style: "mysql",
      start({ emulator, doc, body }) {
        const items = Array.isArray((body as Json | undefined)?.value) ? ((body as Json).value as Json[]) : [];
        for (const item of items) {
          if (!emulator.store.get(`${doc.id}/configurations/${str(item.name)}`)) {
            throw new ArmError(
              404,
              "ResourceNotFound",
              `Configuration '${str(item.name)}' does not exist for server '${doc.name}'.`,
            );
          }
        }
        return {
          commit: () => {
            for (const item of items) {
              const c = emulator.store.get(`${doc.id}/configurations/${str(item.name)}`)!;
              const p = (item.properties ?? item) as Json;
              Object.assign(c.properties, { value: str(p.value), source: p.source ?? "user-override" });
            }
          },
          work: Promise.resolve({ result: { value: items } }),
        };
      },
    },
  },
};

function invalidValue(parameter: string, why: string): ArmError {
  return new ArmError(
    400,
    "InvalidParameterValue",
    `Invalid value given for parameter ${parameter}: ${why}. Specify a valid parameter value.`,
    { target: parameter },
  );
}

/** A restore names an existing server of the same subscription and a point within its backups. */
function validateRestore(doc: ResourceDoc, emu: Emulator): void {
  const p = props(doc);
  const sourceId = str(p.sourceServerResourceId ?? "");
  if (!sourceId) throw missing("sourceServerResourceId");
  const source = emu.store.get(sourceId);
  if (!source || lower(source.type) !== lower(SERVER)) {
    throw invalidValue("sourceServerResourceId", `the server ${sourceId} does not exist`);
  }
  if (lower(sourceId) === lower(doc.id))
    throw invalidValue("sourceServerResourceId", "a server cannot be restored onto itself");
  const when = Date.parse(str(p.restorePointInTime ?? ""));
  if (p.restorePointInTime === undefined) throw missing("restorePointInTime");
  if (Number.isNaN(when)) throw invalidValue("restorePointInTime", "not an ISO 8601 time");
  const created = (emu.store.getSecret(source.id, "createdAt") as number | undefined) ?? 0;
  const days = Number(getPath(source, ["properties", "backup", "backupRetentionDays"]) ?? 7);
  const earliest = Math.max(created, Date.now() - days * 86_400_000);
  if (when < earliest || when > Date.now()) {
    throw invalidValue(
      "restorePointInTime",
      `it must lie between the earliest restore point ${new Date(earliest).toISOString()} and now`,
    );
  }
}

/**
 * "It's created with the original server's configuration for the compute tier, number of vCores,
 * storage size, backup retention period, and backup redundancy option. Also, tags and settings such
 * as virtual network and firewall are inherited from the source server" (concepts-backup-restore);
 * the admin login and its password are the source's; high availability is off after a restore.
 */
function inheritFromSource(doc: ResourceDoc, emu: Emulator): void {
  const p = props(doc);
  const source = emu.store.get(str(p.sourceServerResourceId))!;
  const s = source.properties;
  const restore: MysqlRestore = {
    serverId: doc.id,
    sourceServerId: source.id,
    restorePointInTime: new Date(Date.parse(str(p.restorePointInTime))).toISOString(),
  };
  emu.store.setSecret(doc.id, "restoredFrom", restore);
  const password = emu.store.getSecret(source.id, "properties.administratorLoginPassword");
  if (password !== undefined) emu.store.setSecret(doc.id, "properties.administratorLoginPassword", password);
  doc.sku ??= structuredClone(source.sku);
  doc.tags ??= structuredClone(source.tags);
  p.administratorLogin = s.administratorLogin;
  p.version = s.version;
  p.storage ??= structuredClone(s.storage);
  p.backup ??= structuredClone(s.backup);
  p.network ??= structuredClone(s.network);
  p.highAvailability = { mode: "Disabled" };
  delete p.createMode;
  delete p.sourceServerResourceId;
  delete p.restorePointInTime;
}

/** The source's databases, firewall rules and server parameters, copied to the restored server. */
function copyChildren(emu: Emulator, sourceId: string, targetId: string): void {
  for (const child of emu.store.subtree(sourceId)) {
    if (lower(child.id) === lower(sourceId)) continue;
    const type = lower(child.type);
    if (
      ![`${lower(SERVER)}/databases`, `${lower(SERVER)}/firewallrules`, `${lower(SERVER)}/configurations`].includes(
        type,
      )
    )
      continue;
    const copy = structuredClone(child);
    copy.id = `${targetId}${child.id.slice(sourceId.length)}`;
    if (type.endsWith("/configurations") && RESET_BY_RESTORE.includes(lower(child.name))) {
      Object.assign(copy.properties, { value: copy.properties.defaultValue, source: "system-default" });
    }
    emu.store.set(copy);
  }
}

function automaticBackupName(at: Date): string {
  return `daily_${at.toISOString().replace(/[-:]/g, "").slice(0, 15)}`;
}

function recordBackup(emu: Emulator, serverId: string, name: string, source: string): ResourceDoc {
  const doc: ResourceDoc = {
    id: `${serverId}/backups/${name}`,
    name,
    type: `${SERVER}/backups`,
    properties: { backupType: "FULL", completedTime: new Date().toISOString(), source },
  };
  emu.store.set(doc);
  return doc;
}

function setState(emu: Emulator, doc: ResourceDoc, state: string): void {
  const cur = emu.store.get(doc.id);
  if (cur) props(cur).state = state;
}

function missing(field: string): ArmError {
  return new ArmError(400, "MissingRequiredParameter", `Missing required parameter: ${field}.`, { target: field });
}

const databases: TypeDefinition = {
  type: `${SERVER}/databases`,
  apiVersions: API,
  put: "mysql",
  delete: "mysql",
  provisioningState: false,
  normalize(doc) {
    const p = props(doc);
    p.charset ??= "utf8mb4";
    p.collation ??= "utf8mb4_0900_ai_ci";
  },
};

const firewallRules: TypeDefinition = {
  type: `${SERVER}/firewallRules`,
  apiVersions: API,
  put: "mysql",
  delete: "mysql",
  provisioningState: false,
  validate(doc) {
    for (const f of ["startIpAddress", "endIpAddress"]) if (typeof props(doc)[f] !== "string") throw missing(f);
  },
};

const configurations: TypeDefinition = {
  type: `${SERVER}/configurations`,
  apiVersions: API,
  put: "mysql",
  patch: "mysql",
  delete: "sync",
  provisioningState: false,
  validate(doc, ctx) {
    if (!ctx.existing) throw new ArmError(404, "ResourceNotFound", `Configuration '${doc.name}' does not exist.`);
  },
  normalize(doc) {
    const p = props(doc);
    p.value = str(p.value ?? "");
    p.source ??= "user-override";
  },
};

/**
 * On-demand backups (Backups_Put, 200 with the backup): Azure names the backup
 * `customer_{yyyymmdd}t{hhmmss}_{uuid}_{requested name}`, as the spec's example answer shows, so a
 * repeated PUT takes another backup and the caller keeps the returned name. Automatic backups
 * (`daily_...`) appear in the same list.
 */
const backups: TypeDefinition = {
  type: `${SERVER}/backups`,
  // reads are not checked against api-versions (they answer at 2021-05-01 too); a PUT is
  apiVersions: BACKUP_PUT_API,
  put: "sync",
  createStatus: 200,
  bodylessPut: true,
  provisioningState: false,
  assignName(requested) {
    const stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15).toLowerCase();
    return `customer_${stamp}_${randomUUID()}_${requested}`;
  },
  validate(doc, ctx) {
    const requested = doc.name.replace(/^customer_[^_]+_[0-9a-f-]{36}_/, "");
    if (!/^[-\w._]+$/.test(requested)) throw invalidValue("backupName", `'${requested}' is not a valid backup name`);
    const server = ctx.parent;
    if (server && lower(str(getPath(server, ["properties", "state"]))) !== "ready") {
      // "No new backups are performed for stopped servers" (concepts-backup-restore)
      throw new ArmError(
        409,
        "OperationNotAllowed",
        `Backup is not allowed while server ${server.name} is ${str(getPath(server, ["properties", "state"]))}.`,
      );
    }
  },
  normalize(doc) {
    doc.properties = { backupType: "FULL", completedTime: new Date().toISOString(), source: "Automatic" };
  },
  async work(doc, ctx) {
    const serverId = doc.id.slice(0, doc.id.toLowerCase().lastIndexOf("/backups/"));
    await ctx.emulator.mysqlBackupHook?.({
      serverId,
      backupName: doc.name,
      completedTime: str(doc.properties.completedTime),
    });
  },
  beforeDelete() {
    throw new ArmError(
      405,
      "MethodNotAllowed",
      "Backups of a flexible server cannot be deleted; they expire with the retention period.",
    );
  },
};

export const MYSQL_TYPES: TypeDefinition[] = [flexibleServers, databases, firewallRules, configurations, backups];
export { resolve };
