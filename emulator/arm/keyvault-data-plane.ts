// Key Vault secrets data plane (api 2025-07-01 as sent by @azure/keyvault-secrets 4.11.2): versions,
// tags, content type, enable/disable, soft delete, recover and purge, and the bearer challenge the
// client starts every conversation with. Each vault created through ARM gets its own loopback
// listener, because a secret id is `https://{vault host}/secrets/{name}/{version}`. Secret values
// never enter the journal. A delete or recover completes in the background, as Key Vault's do
// (recording_delete_and_wait, recording_soft_delete_lifecycle): until it has, the deleted secret
// (or the recovered one) reads as 404, and writes to the name answer 409.
//
// Authorization (Azure RBAC, for vaults with enableRbacAuthorization): a token the emulator's IMDS
// issued for a managed identity must be for https://vault.azure.net (401 AKV10022 otherwise) and its
// identity must hold a role whose data actions cover the operation on a scope at or above the
// secret: the secret itself (`{vault id}/secrets/{name}`), the vault, its resource group or
// subscription. Otherwise 403 Forbidden / ForbiddenByRbac, with Key Vault's own message, before
// anything about the secret is revealed (a missing secret is 403 too). Other bearer tokens (the
// app's fixed emulator credential, the anonymous IMDS endpoint) are accepted as before: they stand
// for no identity whose roles the emulator could look up.
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Emulator } from "./emulator";
import { isObject, parseJsonBody, type Reply } from "./http";
import { isSameOrBelow, lower } from "./resource-id";
import { getPath, parentOf, str } from "./store";
import { ArmError, type Json, type ResourceDoc } from "./types";

const SECRETS = "Microsoft.KeyVault/vaults/secrets";
/** The built-in Key Vault roles that reach secrets, and the data actions each allows (`*`: all of them). */
const SECRET_ROLES: Record<string, readonly string[]> = {
  // Key Vault Administrator
  "00482a5a-887f-4fb3-b363-3b7fe8e74483": ["*"],
  // Key Vault Secrets Officer
  "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": ["*"],
  // Key Vault Secrets User
  "4633458b-17de-408a-b874-0445c86b69e6": [`${SECRETS}/getSecret/action`, `${SECRETS}/readMetadata/action`],
  // Key Vault Reader
  "21090545-7ca7-4776-b22c-e363652d74d2": [`${SECRETS}/readMetadata/action`],
};
const VAULT_AUDIENCE = "https://vault.azure.net";

interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

/** A delete or recover that has been accepted but has not completed yet. */
interface Transition {
  kind: "delete" | "recover";
  /** reads that saw it running; it completes once `readsBeforeDone` have (the LRO settings' pollsBeforeDone) */
  reads: number;
  readsBeforeDone: number;
  /** it completes on its own at this time even if nobody reads (the LRO settings' unpolledGraceMs) */
  readyAt: number;
}

interface Secret {
  name: string;
  versions: SecretVersion[];
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
  transition?: Transition;
}

interface Vault {
  name: string;
  url: string;
  purgeProtection: boolean;
  secrets: Map<string, Secret>;
}

const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const RETENTION_DAYS = 90;

export class KeyVaultDataPlane {
  private readonly vaults = new Map<string, Vault>();

  constructor(private readonly emu: Emulator) {}

  challenge(): string {
    return `Bearer authorization="https://login.microsoftonline.com/${this.emu.tenantId}", resource="https://vault.azure.net"`;
  }

  /** Opens (or finds) the vault's own listener; returns its URL (the vault URI, with a trailing slash). */
  async ensureVault(name: string, purgeProtection: boolean): Promise<string> {
    const key = name.toLowerCase();
    let vault = this.vaults.get(key);
    if (!vault) {
      const server = await this.emu.listen(0, (req, res) => this.emu.handle(req, res, key));
      vault = {
        name,
        url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
        purgeProtection,
        secrets: new Map(),
      };
      this.vaults.set(key, vault);
    }
    vault.purgeProtection = vault.purgeProtection || purgeProtection;
    return `${vault.url}/`;
  }

  /** Test access to stored values (e.g. to scan outputs for leaked secrets). */
  secretValues(vaultName = ""): string[] {
    const v = this.vault(vaultName.toLowerCase());
    return [...v.secrets.values()].flatMap((s) => s.versions.map((x) => x.value));
  }

  reset(): void {
    for (const v of this.vaults.values()) v.secrets.clear();
  }

  private vault(key: string): Vault {
    let v = this.vaults.get(key);
    if (!v && key === "") {
      // the default vault answers on the emulator's main listener
      v = { name: "", url: this.emu.url, purgeProtection: false, secrets: new Map() };
      this.vaults.set("", v);
    }
    if (!v) throw new ArmError(404, "VaultNotFound", "The vault was not found.");
    return v;
  }

  /**
   * A Key Vault secret as an ARM scope (`{vault id}/secrets/{name}`), when the vault exists in ARM
   * and holds that secret (not deleted): role assignments can be made on it.
   */
  scopeDocument(id: string): ResourceDoc | undefined {
    const m = /^(.*\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+))\/secrets\/([^/]+)$/i.exec(id);
    if (!m) return undefined;
    const vaultDoc = this.emu.store.get(m[1]);
    const secret = this.vaults.get(lower(m[2]))?.secrets.get(lower(m[3]));
    if (!vaultDoc || !secret || secret.deleted) return undefined;
    return { id: `${vaultDoc.id}/secrets/${secret.name}`, name: secret.name, type: SECRETS, properties: {} };
  }

  handle(
    vaultKey: string,
    method: string,
    path: string,
    query: URLSearchParams,
    bodyText: string,
    authorization: string | undefined,
  ): Reply {
    const bearer = authorization ? /^Bearer\s+(\S+)/i.exec(authorization)?.[1] : undefined;
    if (!bearer) {
      throw new ArmError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
    }
    if (!query.get("api-version"))
      throw new ArmError(400, "BadParameter", "The request is missing the api-version query parameter.");
    const vault = this.vault(vaultKey);
    const seg = path.split("/").filter(Boolean);
    const collection = seg[0].toLowerCase();
    const name = seg[1];
    if (name !== undefined && !NAME.test(name)) {
      throw new ArmError(400, "BadParameter", "The request URI contains an invalid name: " + name);
    }
    this.authorize(
      vaultKey,
      bearer,
      dataActionOf(method, collection, seg),
      collection === "secrets" ? name : undefined,
    );
    if (collection === "secrets") {
      if (!name) {
        if (method === "GET")
          return this.list(
            vault,
            query,
            [...vault.secrets.values()].filter((s) => !s.deleted && !this.inTransition(s, "recover")),
            false,
          );
      } else if (seg.length === 2 || (seg.length === 3 && seg[2] === "")) {
        if (method === "PUT") return this.set(vault, name, parseJsonBody(bodyText));
        if (method === "GET") {
          this.awaitRecovery(vault, name);
          return { status: 200, body: this.bundle(vault, this.versionOf(vault, name, undefined), name, true) };
        }
        if (method === "DELETE") return this.delete(vault, name);
        if (method === "PATCH") return this.update(vault, name, undefined, parseJsonBody(bodyText));
      } else if (seg.length === 3 && seg[2].toLowerCase() === "versions" && method === "GET") {
        this.awaitRecovery(vault, name);
        const s = this.live(vault, name);
        return this.list(vault, query, [s], true);
      } else if (seg.length === 3) {
        if (method === "GET") {
          this.awaitRecovery(vault, name);
          return { status: 200, body: this.bundle(vault, this.versionOf(vault, name, seg[2]), name, true) };
        }
        if (method === "PATCH") return this.update(vault, name, seg[2], parseJsonBody(bodyText));
      }
    } else if (collection === "deletedsecrets") {
      if (!name && method === "GET")
        return this.list(
          vault,
          query,
          [...vault.secrets.values()].filter((s) => s.deleted && !this.inTransition(s, "delete")),
          false,
          true,
        );
      if (name && seg.length === 2) {
        const s = vault.secrets.get(name.toLowerCase());
        // a delete that has not completed: the deleted secret is not there yet (the SDK's poller reads until it is)
        const deleting =
          s?.deleted && (method === "GET" ? this.stillRunning(s, "delete") : this.inTransition(s, "delete"));
        if (!s?.deleted || (deleting && method === "GET"))
          throw new ArmError(404, "SecretNotFound", `Deleted Secret not found: ${name}`);
        if (deleting) throw beingDeleted(name);
        if (method === "GET") return { status: 200, body: this.deletedBundle(vault, s) };
        if (method === "DELETE") {
          if (vault.purgeProtection) {
            throw new ArmError(
              403,
              "Forbidden",
              `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.`,
            );
          }
          vault.secrets.delete(name.toLowerCase());
          return { status: 204 };
        }
      }
      if (name && seg.length === 3 && seg[2].toLowerCase() === "recover" && method === "POST") {
        const s = vault.secrets.get(name.toLowerCase());
        if (!s?.deleted) throw new ArmError(404, "SecretNotFound", `Deleted Secret not found: ${name}`);
        if (this.inTransition(s, "delete")) throw beingDeleted(name);
        delete s.deleted;
        this.begin(s, "recover");
        return { status: 200, body: this.bundle(vault, s.versions[s.versions.length - 1], s.name, false) };
      }
    }
    throw new ArmError(405, "MethodNotAllowed", `${method} is not allowed on ${path}.`);
  }

  /** Azure RBAC for tokens of a managed identity (see the header); throws 401/403 as Key Vault does. */
  private authorize(vaultKey: string, bearer: string, action: string, secretName: string | undefined): void {
    const token = this.emu.imds.tokenInfo(bearer);
    if (!token?.principalId) return;
    const audience = token.resource.replace(/\/+$/, "");
    if (audience !== VAULT_AUDIENCE) {
      throw new ArmError(
        401,
        "Unauthorized",
        `AKV10022: Invalid audience. Expected ${VAULT_AUDIENCE}, found: ${token.resource}.`,
      );
    }
    const vaultDoc = this.emu.store
      .all()
      .find((d) => lower(d.type) === "microsoft.keyvault/vaults" && lower(d.name) === vaultKey);
    if (!vaultDoc || getPath(vaultDoc, ["properties", "enableRbacAuthorization"]) !== true) return;
    const resource = secretName ? `${vaultDoc.id}/secrets/${secretName}` : vaultDoc.id;
    const principal = lower(token.principalId);
    const granted = this.emu.store.all().some((d) => {
      if (lower(d.type) !== "microsoft.authorization/roleassignments") return false;
      if (lower(str(getPath(d, ["properties", "principalId"]))) !== principal) return false;
      const role =
        lower(str(getPath(d, ["properties", "roleDefinitionId"])))
          .split("/")
          .pop() ?? "";
      const actions = SECRET_ROLES[role];
      if (!actions || !(actions.includes("*") || actions.includes(action))) return false;
      return isSameOrBelow(resource, parentOf(d.id));
    });
    if (granted) return;
    throw new ArmError(
      403,
      "Forbidden",
      "Caller is not authorized to perform action on resource.\r\n" +
        "If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
        `Caller: oid=${token.principalId}\r\n` +
        `Action: '${action}'\r\n` +
        `Resource: '${lower(resource)}'\r\n` +
        "Assignment: (not found)\r\n" +
        "DenyAssignmentId: null\r\n" +
        "DecisionReason: 'DeniedWithNoValidRBAC' \r\n" +
        `Vault: ${vaultDoc.name};location=${str(vaultDoc.location)}\r\n`,
      { innererror: { code: "ForbiddenByRbac" } },
    );
  }

  private set(vault: Vault, name: string, body: unknown): Reply {
    if (!isObject(body) || typeof body.value !== "string") {
      throw new ArmError(400, "BadParameter", "Property 'value' is required and must be a string.");
    }
    const existing = vault.secrets.get(name.toLowerCase());
    if (existing && this.inTransition(existing, "delete")) throw beingDeleted(name);
    if (existing && this.inTransition(existing, "recover")) throw beingRecovered(name);
    if (existing?.deleted) {
      throw new ArmError(
        409,
        "Conflict",
        `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
      );
    }
    const attrs = isObject(body.attributes) ? body.attributes : {};
    const now = Math.floor(Date.now() / 1000);
    const v: SecretVersion = {
      version: randomBytes(16).toString("hex"),
      value: body.value,
      contentType: typeof body.contentType === "string" ? body.contentType : undefined,
      tags: isObject(body.tags) ? (body.tags as Record<string, string>) : undefined,
      enabled: attrs.enabled !== false,
      nbf: typeof attrs.nbf === "number" ? attrs.nbf : undefined,
      exp: typeof attrs.exp === "number" ? attrs.exp : undefined,
      created: now,
      updated: now,
    };
    const secret = existing ?? { name, versions: [] };
    secret.versions.push(v);
    vault.secrets.set(name.toLowerCase(), secret);
    return { status: 200, body: this.bundle(vault, v, secret.name, true) };
  }

  private update(vault: Vault, name: string, version: string | undefined, body: unknown): Reply {
    const v = this.findVersion(vault, name, version);
    if (!isObject(body)) throw new ArmError(400, "BadParameter", "The request body is invalid.");
    if (typeof body.contentType === "string") v.contentType = body.contentType;
    if (isObject(body.tags)) v.tags = body.tags as Record<string, string>;
    if (isObject(body.attributes)) {
      if (typeof body.attributes.enabled === "boolean") v.enabled = body.attributes.enabled;
      if (typeof body.attributes.nbf === "number") v.nbf = body.attributes.nbf;
      if (typeof body.attributes.exp === "number") v.exp = body.attributes.exp;
    }
    v.updated = Math.floor(Date.now() / 1000);
    return { status: 200, body: this.bundle(vault, v, name, false) };
  }

  private delete(vault: Vault, name: string): Reply {
    const s = this.live(vault, name);
    if (this.inTransition(s, "recover")) throw beingRecovered(name);
    const now = Math.floor(Date.now() / 1000);
    s.deleted = { deletedDate: now, scheduledPurgeDate: now + RETENTION_DAYS * 86400 };
    this.begin(s, "delete");
    return { status: 200, body: this.deletedBundle(vault, s) };
  }

  /** Starts a background delete or recover (none in `instant` LRO mode: it completes at once). */
  private begin(s: Secret, kind: Transition["kind"]): void {
    const lro = this.emu.lro.settings;
    if (lro.mode === "instant") return;
    s.transition = { kind, reads: 0, readsBeforeDone: lro.pollsBeforeDone, readyAt: Date.now() + lro.unpolledGraceMs };
  }

  /** The transition is still running (it ends on its own once its time has come). */
  private inTransition(s: Secret, kind: Transition["kind"]): boolean {
    const t = s.transition;
    if (!t || t.kind !== kind) return false;
    if (Date.now() >= t.readyAt) {
      delete s.transition;
      return false;
    }
    return true;
  }

  /** A read that waits for the transition: it completes once enough reads have seen it running. */
  private stillRunning(s: Secret, kind: Transition["kind"]): boolean {
    if (!this.inTransition(s, kind)) return false;
    const t = s.transition!;
    if (t.reads >= t.readsBeforeDone) {
      delete s.transition;
      return false;
    }
    t.reads++;
    return true;
  }

  /** A recovered secret reads as missing until its recovery has completed. */
  private awaitRecovery(vault: Vault, name: string): void {
    const s = vault.secrets.get(name.toLowerCase());
    if (s && this.stillRunning(s, "recover")) throw secretNotFound(name);
  }

  private live(vault: Vault, name: string): Secret {
    const s = vault.secrets.get(name.toLowerCase());
    if (!s || s.deleted) throw secretNotFound(name);
    return s;
  }

  private findVersion(vault: Vault, name: string, version: string | undefined): SecretVersion {
    const s = this.live(vault, name);
    if (!version) return s.versions[s.versions.length - 1];
    const v = s.versions.find((x) => x.version.toLowerCase() === version.toLowerCase());
    if (!v)
      throw new ArmError(
        404,
        "SecretNotFound",
        `A secret with (name/id) ${name}/${version} was not found in this key vault.`,
      );
    return v;
  }

  private versionOf(vault: Vault, name: string, version: string | undefined): SecretVersion {
    const v = this.findVersion(vault, name, version);
    if (!v.enabled)
      throw new ArmError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", {
        innererror: { code: "SecretDisabled" },
      });
    return v;
  }

  private attributes(vault: Vault, v: SecretVersion): Json {
    const a: Json = {
      enabled: v.enabled,
      created: v.created,
      updated: v.updated,
      recoveryLevel: vault.purgeProtection ? "Recoverable" : "Recoverable+Purgeable",
      recoverableDays: RETENTION_DAYS,
    };
    if (v.nbf !== undefined) a.nbf = v.nbf;
    if (v.exp !== undefined) a.exp = v.exp;
    return a;
  }

  private bundle(vault: Vault, v: SecretVersion, name: string, withValue: boolean): Json {
    const b: Json = {};
    if (withValue) b.value = v.value;
    b.id = `${vault.url}/secrets/${name}/${v.version}`;
    if (v.contentType !== undefined) b.contentType = v.contentType;
    b.attributes = this.attributes(vault, v);
    if (v.tags) b.tags = v.tags;
    return b;
  }

  private deletedBundle(vault: Vault, s: Secret): Json {
    const latest = s.versions[s.versions.length - 1];
    return {
      recoveryId: `${vault.url}/deletedsecrets/${s.name}`,
      deletedDate: s.deleted!.deletedDate,
      scheduledPurgeDate: s.deleted!.scheduledPurgeDate,
      ...this.bundle(vault, latest, s.name, false),
    };
  }

  private list(vault: Vault, query: URLSearchParams, secrets: Secret[], versions: boolean, deleted = false): Reply {
    const items: Json[] = [];
    for (const s of secrets.sort((a, b) => a.name.localeCompare(b.name))) {
      const chosen = versions ? s.versions : [s.versions[s.versions.length - 1]];
      for (const v of chosen) {
        const item: Json = {
          id: versions ? `${vault.url}/secrets/${s.name}/${v.version}` : `${vault.url}/secrets/${s.name}`,
          attributes: this.attributes(vault, v),
        };
        if (v.contentType !== undefined) item.contentType = v.contentType;
        if (v.tags) item.tags = v.tags;
        if (deleted)
          Object.assign(item, {
            recoveryId: `${vault.url}/deletedsecrets/${s.name}`,
            deletedDate: s.deleted!.deletedDate,
            scheduledPurgeDate: s.deleted!.scheduledPurgeDate,
          });
        items.push(item);
      }
    }
    const size = Math.min(Number(query.get("maxresults")) || 25, 25);
    const start = Number(query.get("$skiptoken") ?? "0") || 0;
    const value = items.slice(start, start + size);
    let nextLink: string | null = null;
    if (start + size < items.length) {
      const q = new URLSearchParams(query);
      q.set("$skiptoken", String(start + size));
      nextLink = `${vault.url}/${deleted ? "deletedsecrets" : "secrets"}${versions ? `/${secrets[0].name}/versions` : ""}?${q.toString()}`;
    }
    return { status: 200, body: { value, nextLink } };
  }
}

function secretNotFound(name: string): ArmError {
  return new ArmError(
    404,
    "SecretNotFound",
    `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

/** Key Vault's answer to a write on a secret whose recovery has not completed. */
function beingRecovered(name: string): ArmError {
  return new ArmError(
    409,
    "Conflict",
    `Secret ${name} is currently being recovered and cannot be re-created; retry later.`,
    {
      innererror: { code: "ObjectIsBeingRecovered" },
    },
  );
}

/** Key Vault's answer to a write on a secret whose delete has not completed. */
function beingDeleted(name: string): ArmError {
  return new ArmError(409, "Conflict", `Secret ${name} is currently being deleted.`, {
    innererror: { code: "ObjectIsBeingDeleted" },
  });
}

/** The Key Vault data action a request needs (the names Azure's built-in roles list). */
function dataActionOf(method: string, collection: string, seg: string[]): string {
  if (collection === "deletedsecrets") {
    if (method === "DELETE") return `${SECRETS}/purge/action`;
    if (method === "POST") return `${SECRETS}/recover/action`;
    return `${SECRETS}/readMetadata/action`;
  }
  switch (method) {
    case "GET":
      // the value of one version (or the latest); lists give metadata only
      return seg.length >= 2 && !(seg.length === 3 && seg[2].toLowerCase() === "versions")
        ? `${SECRETS}/getSecret/action`
        : `${SECRETS}/readMetadata/action`;
    case "PUT":
      return `${SECRETS}/setSecret/action`;
    case "PATCH":
      return `${SECRETS}/update/action`;
    case "DELETE":
      return `${SECRETS}/delete`;
    default:
      return `${SECRETS}/readMetadata/action`;
  }
}
