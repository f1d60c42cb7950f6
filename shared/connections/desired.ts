// Desired vs observed for connections from the Azure inventory, pure: which Guacamole connections
// and connection groups a stack should have, from the spec's sources and what Resource Graph listed.
// Every name, tag and address in the inventory is set by whoever may tag or name a VM, so each is
// checked against a strict pattern here; what does not pass is skipped with a reason (which quotes
// nothing of the hostile value but its sanitized start) and never reaches SQL or a parameter.
import { createHash } from "node:crypto";
import { formatIpv4, parseCidr, parseIpv4, type Cidr } from "../ipv4";
import { recordingParameters } from "../recordings/parameters";
import type { StackSpec } from "../spec/types";

export type Protocol = "ssh" | "rdp" | "vnc";

/** Guacamole's default ports of each protocol (guacd's own defaults). */
export const DEFAULT_PORTS: Record<Protocol, number> = { ssh: 22, rdp: 3389, vnc: 5900 };

/** At most this many connections per stack: the rest is skipped, with the reason. */
export const MAX_CONNECTIONS = 5000;

/**
 * The non-secret parameters of each protocol, with names from Guacamole 1.6.0's protocol
 * descriptors (guacamole-ext/src/main/resources/org/apache/guacamole/protocols/{ssh,rdp,vnc}.json).
 * RDP: `security` any (negotiated) and `ignore-cert` true, since an Azure VM's RDP certificate is
 * self-signed; the target is only reached inside the stack's VNet or a peered one.
 */
export function protocolParameters(protocol: Protocol, host: string, port: number): Record<string, string> {
  const base = { hostname: host, port: String(port) };
  return protocol === "rdp" ? { ...base, security: "any", "ignore-cert": "true" } : base;
}

/** The credential parameters each protocol takes (the same descriptors). */
export const CREDENTIAL_PARAMETERS: Record<Protocol, readonly string[]> = {
  ssh: ["username", "password", "private-key", "passphrase"],
  rdp: ["username", "password", "domain"],
  vnc: ["username", "password"],
};

export interface InventoryVm {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  tags: Record<string, unknown>;
  /** the scale set it is an instance of ("" if none): a Flexible one's VM, or a Uniform one's instance */
  scaleSetId: string;
  powerState: string;
}

export interface InventoryScaleSet {
  id: string;
  tags: Record<string, unknown>;
}

export interface InventoryNic {
  /** lower case */
  vmId: string;
  primary: boolean;
  privateIp: string;
}

/** One credential reference of the spec, as read (version) or why it cannot be used. */
export interface CredentialState {
  /** "c<index of the source>" */
  key: string;
  secret: string;
  vaultId?: string;
  version?: string;
  /** unreadable or not the expected JSON: the source's connections are left as they are */
  problem?: string;
}

export interface DesiredGroup {
  /** `s/<subscription>` or `s/<subscription>/g/<resource group>`, lower case */
  key: string;
  name: string;
  parent: string | null;
}

export interface DesiredConnection {
  /** the VM's ARM id, lower case: what marks the connection as this VM's */
  key: string;
  name: string;
  group: string;
  protocol: Protocol;
  parameters: Record<string, string>;
  /** the credential's key, when the source has one */
  credential?: string;
  /** `<secret>/<version>`: the agent rewrites credential parameters only when this changes */
  credentialVersion?: string;
  /** Entra group object ids (lower case) that may use it: READ on it and its groups */
  groups: string[];
  source: number;
  vm: { id: string; name: string; resourceGroup: string; subscriptionId: string; powerState: string };
}

export interface SkippedTarget {
  vm: string;
  name: string;
  reason: string;
}

export interface DesiredConnections {
  groups: DesiredGroup[];
  connections: DesiredConnection[];
  /** VM keys whose connections stay as they are this time (their source's credential is unusable) */
  keep: string[];
  skipped: SkippedTarget[];
  /** SHA-256 of everything the agent is given: the same digest, nothing to apply */
  digest: string;
}

const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/;
const RESOURCE_GROUP = /^[-A-Za-z0-9_.()]{1,90}$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const VM_ID =
  /^\/subscriptions\/([0-9a-f-]{36})\/resourcegroups\/([-a-z0-9_.()]{1,90})\/providers\/microsoft\.compute\/virtualmachines\/([a-z0-9][a-z0-9_.-]{0,79})$/;
/** A Uniform scale set's instance: `<scale set>/virtualmachines/<instance id>` (a number). */
const INSTANCE_ID =
  /^(\/subscriptions\/([0-9a-f-]{36})\/resourcegroups\/([-a-z0-9_.()]{1,90})\/providers\/microsoft\.compute\/virtualmachinescalesets\/([a-z0-9][a-z0-9_.-]{0,63}))\/virtualmachines\/([0-9]{1,9})$/;

/**
 * A target's subscription, resource group and the name its connection must have (lower case), from
 * its id: a VM's name, or a Uniform instance's `<scale set>_<instance id>` (whose scale set must be
 * the one the inventory says). Anything else is no target id.
 */
function parseTargetId(
  key: string,
  scaleSetId: string,
): { subscription: string; group: string; name: string } | undefined {
  const vm = VM_ID.exec(key);
  if (vm) return { subscription: vm[1], group: vm[2], name: vm[3] };
  const inst = INSTANCE_ID.exec(key);
  if (inst && inst[1] === scaleSetId.toLowerCase())
    return { subscription: inst[2], group: inst[3], name: `${inst[4]}_${inst[5]}` };
  return undefined;
}

/** What a tag value says: `ssh`, `rdp`, `vnc`, optionally `:port`. */
export function parseConnectTag(value: unknown): { protocol: Protocol; port: number } | { problem: string } {
  if (typeof value !== "string") return { problem: "the tag value is not text" };
  const m = /^(ssh|rdp|vnc)(?::([0-9]{1,5}))?$/.exec(value.trim().toLowerCase());
  if (!m) return { problem: `the tag value ${shown(value)} is not ssh, rdp or vnc, optionally with :port` };
  const protocol = m[1] as Protocol;
  const port = m[2] === undefined ? DEFAULT_PORTS[protocol] : Number(m[2]);
  if (port < 1 || port > 65535) return { problem: `the port in ${shown(value)} is not 1-65535` };
  return { protocol, port };
}

/** A hostile value's start, printable ASCII only, for a reason a person reads. */
export function shown(value: string): string {
  const clean = value.replace(/[^ -~]/g, "?").slice(0, 40);
  return JSON.stringify(value.length > 40 ? `${clean}...` : clean);
}

/** A tag by name, compared case-insensitively as Azure does. */
function tagOf(tags: Record<string, unknown>, name: string): unknown {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(tags)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

export interface DesiredOptions {
  /** the stack's VNet address space and its connected peerings' prefixes */
  reachable: string[];
  credentials: CredentialState[];
}

export function desiredConnections(
  spec: StackSpec,
  inventory: { vms: InventoryVm[]; scaleSets: InventoryScaleSet[]; nics: InventoryNic[] },
  options: DesiredOptions,
): DesiredConnections {
  const sources = spec.connections?.sources ?? [];
  const reach = options.reachable.map(parseCidr).filter((c): c is Cidr => c !== undefined);
  const scaleSetTags = new Map(inventory.scaleSets.map((s) => [s.id.toLowerCase(), s.tags]));
  const ipOf = new Map<string, string>();
  for (const nic of [...inventory.nics].sort((a, b) => Number(b.primary) - Number(a.primary)))
    if (!ipOf.has(nic.vmId.toLowerCase()) && nic.privateIp) ipOf.set(nic.vmId.toLowerCase(), nic.privateIp);
  const credentials = new Map(options.credentials.map((c) => [c.key, c]));

  const connections: DesiredConnection[] = [];
  const keep: string[] = [];
  const skipped: SkippedTarget[] = [];
  const groups = new Map<string, DesiredGroup>();
  const seen = new Set<string>();
  // Guacamole names a connection once per group: a VM `pool_0` and Uniform `pool`'s instance 0 in one
  // resource group would clash; the VM (its id sorts first) keeps the name
  const names = new Set<string>();
  const vms = [...inventory.vms].sort((a, b) => a.id.toLowerCase().localeCompare(b.id.toLowerCase()));
  for (const vm of vms) {
    const key = vm.id.toLowerCase();
    const skip = (reason: string) => skipped.push({ vm: vm.id.slice(0, 300), name: vm.name.slice(0, 80), reason });
    const parsedId = parseTargetId(key, vm.scaleSetId);
    if (!parsedId) {
      if (matchesAnySource(vm, sources, scaleSetTags)) skip("not a VM id Jumpgate accepts");
      continue;
    }
    const { subscription, group } = parsedId;
    for (const [index, source] of sources.entries()) {
      if (source.subscriptionId.toLowerCase() !== subscription) continue;
      const scope = source.resourceGroups?.map((g) => g.toLowerCase());
      if (scope && !scope.includes(group)) continue;
      const own = tagOf(vm.tags, source.tag);
      const inherited = vm.scaleSetId
        ? tagOf(scaleSetTags.get(vm.scaleSetId.toLowerCase()) ?? {}, source.tag)
        : undefined;
      const value = own ?? inherited;
      if (value === undefined) continue;
      if (seen.has(key)) {
        skip(`also matched by connections.sources[${index}]: the first source's`);
        break;
      }
      seen.add(key);
      const tag = parseConnectTag(value);
      if ("problem" in tag) {
        skip(tag.problem);
        break;
      }
      if (!VM_NAME.test(vm.name) || vm.name.toLowerCase() !== parsedId.name) {
        skip(`the name ${shown(vm.name)} is not a VM name Jumpgate accepts`);
        break;
      }
      if (!RESOURCE_GROUP.test(vm.resourceGroup) || !GUID.test(vm.subscriptionId.toLowerCase())) {
        skip("its subscription or resource group is not one Jumpgate accepts");
        break;
      }
      const ip = ipOf.get(key);
      const address = ip === undefined ? undefined : parseIpv4(ip);
      if (ip === undefined || address === undefined) {
        skip("no private IPv4 address (no network interface in the inventory)");
        break;
      }
      if (!reach.some((c) => address >= c.first && address <= c.last)) {
        skip(
          `${formatIpv4(address)} is not in the stack's virtual network or a peered address space: unreachable from the web subnet`,
        );
        break;
      }
      const groupKey = `s/${subscription}/g/${group}`;
      const nameKey = `${groupKey}\n${vm.name.toLowerCase()}`;
      if (names.has(nameKey)) {
        skip(`another target in its resource group already has the name ${shown(vm.name)}`);
        break;
      }
      if (connections.length >= MAX_CONNECTIONS) {
        skip(`more than ${MAX_CONNECTIONS} connections`);
        break;
      }
      const credential = source.credential ? credentials.get(`c${index}`) : undefined;
      if (credential?.problem) {
        keep.push(key);
        skip(`credential ${credential.secret} is unusable (${credential.problem}): the connection is left as it is`);
        break;
      }
      names.add(nameKey);
      const subKey = `s/${subscription}`;
      if (!groups.has(subKey)) groups.set(subKey, { key: subKey, name: subscription, parent: null });
      // the resource group's name as the VM's id spells it (ids keep the case it was made with)
      const groupName = /\/resourceGroups\/([^/]+)\//i.exec(vm.id)?.[1] ?? group;
      if (!groups.has(groupKey)) groups.set(groupKey, { key: groupKey, name: groupName, parent: subKey });
      connections.push({
        key,
        name: vm.name,
        group: groupKey,
        protocol: tag.protocol,
        parameters: {
          ...protocolParameters(tag.protocol, formatIpv4(address), tag.port),
          ...recordingParameters(tag.protocol, { stack: spec.recordings, source: source.recordings }),
        },
        ...(credential?.version
          ? { credential: credential.key, credentialVersion: `${credential.secret}/${credential.version}` }
          : {}),
        groups: source.groups.map((g) => g.toLowerCase()).sort(),
        source: index,
        vm: {
          id: vm.id,
          name: vm.name,
          resourceGroup: groupName,
          subscriptionId: subscription,
          powerState: /^[a-z]{1,20}$/i.test(vm.powerState) ? vm.powerState.toLowerCase() : "unknown",
        },
      });
      break;
    }
  }
  const sortedGroups = [...groups.values()].sort((a, b) => a.key.localeCompare(b.key));
  return { groups: sortedGroups, connections, keep, skipped, digest: digestOf(sortedGroups, connections, keep) };
}

function matchesAnySource(
  vm: InventoryVm,
  sources: readonly { tag: string }[],
  scaleSetTags: Map<string, Record<string, unknown>>,
): boolean {
  return sources.some(
    (s) =>
      tagOf(vm.tags, s.tag) !== undefined ||
      (vm.scaleSetId !== "" && tagOf(scaleSetTags.get(vm.scaleSetId.toLowerCase()) ?? {}, s.tag) !== undefined),
  );
}

/** What the agent is given for a stack: groups, connections (no secret values) and what to keep. */
export interface AgentDesired {
  stack: string;
  groups: DesiredGroup[];
  connections: {
    key: string;
    name: string;
    group: string;
    protocol: Protocol;
    parameters: Record<string, string>;
    credential?: string;
    credentialVersion?: string;
    groups: string[];
  }[];
  keep: string[];
}

export function agentDesired(stack: string, desired: DesiredConnections): AgentDesired {
  return {
    stack,
    groups: desired.groups,
    connections: desired.connections.map((c) => ({
      key: c.key,
      name: c.name,
      group: c.group,
      protocol: c.protocol,
      parameters: c.parameters,
      ...(c.credential ? { credential: c.credential, credentialVersion: c.credentialVersion } : {}),
      groups: c.groups,
    })),
    keep: desired.keep,
  };
}

function digestOf(groups: DesiredGroup[], connections: DesiredConnection[], keep: string[]): string {
  const body = JSON.stringify(agentDesired("", { groups, connections, keep, skipped: [], digest: "" }));
  return createHash("sha256").update(body, "utf8").digest("hex");
}

/** The secret's JSON as Guacamole parameters, or why it cannot be used (never quoting a value). */
export function credentialParameters(value: string): { parameters: Record<string, string> } | { problem: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    return { problem: "not JSON" };
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return { problem: "not a JSON object" };
  const o = doc as Record<string, unknown>;
  // [field, Guacamole parameter, longest, whether line breaks are allowed (a PEM private key)]
  const fields: [string, string, number, boolean][] = [
    ["username", "username", 128, false],
    ["password", "password", 1024, false],
    ["domain", "domain", 256, false],
    ["privateKey", "private-key", 4096, true],
    ["passphrase", "passphrase", 1024, false],
  ];
  const parameters: Record<string, string> = {};
  for (const [field, parameter, longest, lines] of fields) {
    const v = o[field];
    if (v === undefined) continue;
    const text = typeof v === "string" ? v.replace(/\r\n/g, "\n") : undefined;
    if (text === undefined || text.length === 0 || text.length > longest || hasControl(text, lines))
      return { problem: `'${field}' is not text of 1-${longest} characters without control characters` };
    parameters[parameter] = text;
  }
  if (!parameters.username) return { problem: "it has no 'username'" };
  if (!parameters.password && !parameters["private-key"])
    return { problem: "it has neither 'password' nor 'privateKey'" };
  const unknown = Object.keys(o).filter((k) => !fields.some(([f]) => f === k));
  if (unknown.length > 0) return { problem: `unknown field(s): ${unknown.slice(0, 5).map(shown).join(", ")}` };
  return { parameters };
}

/** C0 controls and DEL (a line feed allowed where `lines`). */
function hasControl(text: string, lines: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && !(lines && code === 0x0a)) || code === 0x7f) return true;
  }
  return false;
}
