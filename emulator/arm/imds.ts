// Azure's Instance Metadata Service, served on the emulator's main listener so a node agent in a
// sandbox can use it the way it does on a VM. Like IMDS it insists on the `Metadata: true` header
// (which a browser or a forwarded request cannot set) and answers tokens with string-typed expiry
// fields; a token is an opaque random string.
//
// Two flavours:
//   - `{url}/metadata/identity/oauth2/token`: tokens of no VM in particular. The emulator's Key Vault
//     accepts any bearer token, so these are what run-command sandboxes get by default.
//   - `{url}/_imds{vm id}/metadata/...` (`endpointFor(vmId)`): the IMDS of that VM, which knows who is
//     asking, as the real one does by network origin. It serves the instance metadata
//     (`/metadata/instance`, the compute and network fields Jumpgate reads and the identifying
//     ones) and tokens of the VM's managed identity, which the emulator remembers, so a service that
//     authorizes (custom metrics ingestion) can look up whose token it was given. Like IMDS, it
//     picks the identity a request names (`client_id`, `object_id` or `msi_res_id`), else the VM's
//     system-assigned one, else its only user-assigned one (several and none named: 400). A VM of a
//     Flexible scale set carries the scale set's user-assigned identities: that identity is the one
//     the stack graph gives roles to (`ra:vmss`, `ra:metrics:vmss`).
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Emulator } from "./emulator";
import type { Reply } from "./http";
import { lower, parseArmPath } from "./resource-id";
import { attachedIdentities, type AttachedIdentity } from "./providers/managed-identity";
import { getPath, str } from "./store";
import type { Json, ResourceDoc } from "./types";

export const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";
export const IMDS_INSTANCE_PATH = "/metadata/instance";

/** `/_imds/subscriptions/.../virtualMachines/{name}/metadata/...`: one VM's IMDS. */
const VM_IMDS =
  /^\/_imds(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/virtualMachines\/[^/]+)(\/metadata\/.*)$/i;

const TOKEN_LIFETIME_SECONDS = 86_399;

/** The client id the emulator's IMDS answers for a system-assigned identity (or no identity). */
const SYSTEM_CLIENT_ID = "00000000-0000-0000-0000-00000000c11e";

/** What the emulator knows about a token its IMDS issued. */
export interface IssuedToken {
  /** the audience asked for */
  resource: string;
  /** the VM whose IMDS issued it (absent for the anonymous endpoint) */
  vmId?: string;
  /** the managed identity the token stands for (absent for the anonymous endpoint) */
  principalId?: string;
}

export class ImdsService {
  private readonly issued = new Map<string, IssuedToken>();

  constructor(private readonly emu: Emulator) {}

  /** The IMDS endpoint (JUMPGATE_IMDS_ENDPOINT) of one VM. */
  endpointFor(vmId: string): string {
    return `${this.emu.url}/_imds${vmId}`;
  }

  /** Whether the emulator's IMDS serves this path (the anonymous token endpoint or a VM's IMDS). */
  serves(path: string): boolean {
    return path === IMDS_TOKEN_PATH || path === IMDS_INSTANCE_PATH || VM_IMDS.test(path);
  }

  /** Who a bearer token belongs to, when the emulator's IMDS issued it. */
  tokenInfo(token: string): IssuedToken | undefined {
    return this.issued.get(token);
  }

  reset(): void {
    this.issued.clear();
  }

  handle(req: IncomingMessage, method: string, path: string, query: URLSearchParams): Reply {
    const perVm = VM_IMDS.exec(path);
    const vmId = perVm?.[1];
    const endpoint = perVm ? perVm[2] : path;
    if (method !== "GET") return { status: 405, body: { error: "invalid_request", error_description: "GET only" } };
    if ((req.headers.metadata ?? "").toString().toLowerCase() !== "true") {
      return badRequest(endpoint, "Required metadata header not specified");
    }
    if (!query.get("api-version")) return badRequest(endpoint, "Required query variable 'api-version' is missing");
    let vm: ResourceDoc | undefined;
    if (vmId) {
      vm = this.emu.store.get(vmId);
      if (!vm) return { status: 404, body: { error: "Not found", error_description: `no VM ${vmId}` } };
    }
    if (endpoint === IMDS_TOKEN_PATH) return this.token(query, vm);
    if (endpoint === IMDS_INSTANCE_PATH) {
      if (!vm) {
        return {
          status: 404,
          body: { error: `Not found. The emulator serves instance metadata per VM: ${this.emu.url}/_imds{vm id}` },
        };
      }
      return { status: 200, body: this.instance(vm) };
    }
    return { status: 404, body: { error: "Not found" } };
  }

  private token(query: URLSearchParams, vm: ResourceDoc | undefined): Reply {
    const resource = query.get("resource");
    if (!resource) {
      return {
        status: 400,
        body: {
          error: "invalid_resource",
          error_description: "AADSTS500011: The resource principal named was not found.",
        },
      };
    }
    let chosen: { principalId: string; clientId: string } | undefined;
    if (vm) {
      const picked = this.identityOf(vm, query);
      if ("error" in picked) {
        return { status: 400, body: { error: "invalid_request", error_description: picked.error } };
      }
      chosen = picked;
    }
    const now = Math.floor(Date.now() / 1000);
    const accessToken = `emulator-imds.${randomBytes(24).toString("base64url")}`;
    this.issued.set(accessToken, {
      resource,
      ...(vm && chosen ? { vmId: vm.id, principalId: chosen.principalId } : {}),
    });
    return {
      status: 200,
      body: {
        access_token: accessToken,
        client_id: chosen?.clientId ?? SYSTEM_CLIENT_ID,
        expires_in: String(TOKEN_LIFETIME_SECONDS),
        expires_on: String(now + TOKEN_LIFETIME_SECONDS),
        ext_expires_in: String(TOKEN_LIFETIME_SECONDS),
        not_before: String(now),
        resource,
        token_type: "Bearer",
      },
    };
  }

  /**
   * The identity a VM's token request gets, as IMDS picks it: the one the request names, else the
   * system-assigned one, else the only user-assigned one. A scale set instance carries its scale
   * set's user-assigned identities (read from the scale set, so a later change reaches it).
   */
  private identityOf(
    vm: ResourceDoc,
    query: URLSearchParams,
  ): { principalId: string; clientId: string } | { error: string } {
    const setId = getPath(vm, ["properties", "virtualMachineScaleSet", "id"]);
    const set = typeof setId === "string" ? this.emu.store.get(setId) : undefined;
    const userAssigned = new Map<string, AttachedIdentity>();
    for (const i of [...attachedIdentities(set), ...attachedIdentities(vm)]) userAssigned.set(lower(i.id), i);
    const own = getPath(vm, ["identity", "principalId"]);
    const system = typeof own === "string" ? { principalId: own, clientId: SYSTEM_CLIENT_ID } : undefined;
    const clientId = query.get("client_id");
    const objectId = query.get("object_id");
    const resourceId = query.get("msi_res_id") ?? query.get("mi_res_id");
    if (clientId || objectId || resourceId) {
      const match = [...userAssigned.values()].find(
        (i) =>
          (clientId && lower(i.clientId) === lower(clientId)) ||
          (objectId && lower(i.principalId) === lower(objectId)) ||
          (resourceId && lower(i.id) === lower(resourceId)),
      );
      if (match) return { principalId: match.principalId, clientId: match.clientId };
      if (system && objectId && lower(system.principalId) === lower(objectId)) return system;
      return { error: "Identity not found" };
    }
    if (system) return system;
    const all = [...userAssigned.values()];
    if (all.length === 1) return { principalId: all[0].principalId, clientId: all[0].clientId };
    if (all.length > 1) {
      return {
        error:
          "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
      };
    }
    return { error: "Identity not found" };
  }

  /** `GET /metadata/instance` (api-version 2021-02-01 shape), from the VM's document. */
  private instance(vm: ResourceDoc): Json {
    const p = parseArmPath(vm.id)!;
    const setId = getPath(vm, ["properties", "virtualMachineScaleSet", "id"]);
    const tags = vm.tags ?? {};
    const interfaces: Json[] = [];
    const nics = (getPath(vm, ["properties", "networkProfile", "networkInterfaces"]) as Json[] | undefined) ?? [];
    for (const ref of nics) {
      const nic = this.emu.store.get(str(ref.id));
      if (!nic) continue;
      const ipcs = (getPath(nic, ["properties", "ipConfigurations"]) as Json[] | undefined) ?? [];
      interfaces.push({
        ipv4: {
          ipAddress: ipcs.map((c) => ({
            privateIpAddress: str(getPath(c, ["properties", "privateIPAddress"]) ?? ""),
            publicIpAddress: "",
          })),
          subnet: [],
        },
        ipv6: { ipAddress: [] },
        macAddress: str(getPath(nic, ["properties", "macAddress"]) ?? ""),
      });
    }
    return {
      compute: {
        azEnvironment: "AzurePublicCloud",
        location: lower(str(vm.location ?? "")).replace(/\s+/g, ""),
        name: vm.name,
        osType: "Linux",
        resourceGroupName: p.resourceGroup ?? "",
        resourceId: vm.id,
        subscriptionId: p.subscription,
        tags: Object.entries(tags)
          .map(([k, v]) => `${k}:${v}`)
          .join(";"),
        tagsList: Object.entries(tags).map(([name, value]) => ({ name, value })),
        vmId: str(getPath(vm, ["properties", "vmId"]) ?? ""),
        vmScaleSetName: typeof setId === "string" ? (setId.split("/").pop() ?? "") : "",
        vmSize: str(getPath(vm, ["properties", "hardwareProfile", "vmSize"]) ?? ""),
        zone: Array.isArray(vm.zones) && vm.zones.length > 0 ? String(vm.zones[0]) : "",
      },
      network: { interface: interfaces },
    };
  }
}

function badRequest(endpoint: string, description: string): Reply {
  // the token endpoint answers OAuth-style errors; the instance endpoint a plain message
  return endpoint === IMDS_TOKEN_PATH
    ? { status: 400, body: { error: "invalid_request", error_description: description } }
    : { status: 400, body: { error: `Bad request. ${description}` } };
}
