// Microsoft.DBforMySQL flexible servers (api 2021-05-01 as sent by @azure/arm-mysql-flexible 3.1.0):
// private access through a delegated subnet and a private DNS zone, default server parameters,
// databases, firewall rules, configurations and the admin password, which is never echoed and can
// be wired to a real MariaDB by a test (`emulator.mysqlAdminPasswordHook`).
import type { Emulator } from "../emulator";
import { lower } from "../resource-id";
import { getPath, str } from "../store";
import { ArmError, type Json, type ResourceDoc, type TypeDefinition } from "../types";
import { arrayAt, props, requireRef, resolve } from "./common";

const SERVER = "Microsoft.DBforMySQL/flexibleServers";
const API = ["2021-05-01", "2022-01-01", "2023-06-01-preview", "2023-06-30", "2023-12-30"];

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
    if (!ctx.existing) {
      if (typeof p.administratorLogin !== "string") throw missing("administratorLogin");
      if (ctx.emulator.store.getSecret(doc.id, "properties.administratorLoginPassword") === undefined)
        throw missing("administratorLoginPassword");
      if (!getPath(doc, ["sku", "name"]) || !getPath(doc, ["sku", "tier"])) throw missing("sku");
    } else if (p.administratorLogin !== getPath(ctx.existing, ["properties", "administratorLogin"])) {
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
    const p = props(doc);
    const old = ctx.existing ? props(ctx.existing) : {};
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
  async work(doc, ctx, written) {
    if (!written.has("properties.administratorLoginPassword")) return;
    const password = ctx.emulator.store.getSecret(doc.id, "properties.administratorLoginPassword");
    const login = str(getPath(doc, ["properties", "administratorLogin"]) ?? "");
    await ctx.emulator.mysqlAdminPasswordHook?.(doc.id, login, str(password));
  },
  afterCommit(doc, ctx) {
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

export const MYSQL_TYPES: TypeDefinition[] = [flexibleServers, databases, firewallRules, configurations];
export { resolve };
