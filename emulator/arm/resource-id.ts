// ARM resource-id grammar, parsed case-insensitively but keeping the caller's casing:
//   /subscriptions/{s}[/resourceGroups/{rg}][/providers/{ns}/{type}/{name}(/{type}/{name})*]*[/{trailing}]
// A second `/providers/` makes an extension resource (role assignments) whose scope is what precedes it.
// An odd trailing segment is a collection (GET) or an action (POST).

export interface ArmPath {
  subscription: string;
  resourceGroup?: string;
  /** canonical id of the addressed resource, or of the scope when only a collection/action follows */
  id: string;
  /** "Microsoft.Network/virtualNetworks/subnets"; "Microsoft.Resources/resourceGroups"; "" for a bare subscription */
  type: string;
  name?: string;
  /** id of the enclosing resource (child resources, extension resources), else the resource group / subscription */
  parentId?: string;
  trailing?: string;
  /** the addressed node is a provider namespace with no type yet (`.../providers/Microsoft.Compute`) */
  providerOnly?: boolean;
}

export function lower(id: string): string {
  return id.toLowerCase();
}

export function parseArmPath(pathname: string): ArmPath | undefined {
  let seg: string[];
  try {
    seg = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  if (seg.length < 2 || lower(seg[0]) !== "subscriptions") return undefined;
  const subscription = seg[1];
  let id = `/subscriptions/${subscription}`;
  let type = "";
  let name: string | undefined;
  let parentId: string | undefined;
  let resourceGroup: string | undefined;
  let i = 2;
  if (i < seg.length && lower(seg[i]) === "resourcegroups") {
    if (i + 1 >= seg.length) return { subscription, id, type: "", trailing: seg[i] };
    resourceGroup = seg[i + 1];
    parentId = id;
    id = `${id}/resourceGroups/${resourceGroup}`;
    type = "Microsoft.Resources/resourceGroups";
    name = resourceGroup;
    i += 2;
  }
  while (i < seg.length) {
    if (lower(seg[i]) !== "providers") break;
    if (i + 1 >= seg.length) return undefined;
    const ns = seg[i + 1];
    i += 2;
    const scopeId = id;
    const types: string[] = [];
    const names: string[] = [];
    let resourceId = `${scopeId}/providers/${ns}`;
    while (i + 1 < seg.length && lower(seg[i]) !== "providers") {
      types.push(seg[i]);
      names.push(seg[i + 1]);
      resourceId += `/${seg[i]}/${seg[i + 1]}`;
      i += 2;
    }
    if (types.length === 0) {
      // `/providers/{ns}/{collectionOrAction}` or `/providers/{ns}` alone
      return {
        subscription,
        resourceGroup,
        id: scopeId,
        type: ns,
        parentId: scopeId,
        trailing: i < seg.length ? seg[i] : undefined,
        providerOnly: true,
      };
    }
    parentId = types.length > 1 ? resourceId.slice(0, resourceId.lastIndexOf(`/${types[types.length - 1]}/`)) : scopeId;
    id = resourceId;
    type = [ns, ...types].join("/");
    name = names[names.length - 1];
  }
  const rest = seg.slice(i);
  if (rest.length > 1) return undefined;
  return { subscription, resourceGroup, id, type, name, parentId, trailing: rest[0] };
}

/** The resource group id a resource id lives in, if any. */
export function resourceGroupIdOf(id: string): string | undefined {
  const m = /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+)/i.exec(id);
  return m?.[1];
}

/** Canonical "type key" used to look up profiles: lower-case, DNS record types folded to one. */
export function typeKey(type: string): string {
  const t = lower(type);
  const dns = /^microsoft\.network\/(dnszones|privatednszones)\/(a|aaaa|caa|cname|mx|ns|ptr|soa|srv|txt)$/.exec(t);
  if (dns) return `microsoft.network/${dns[1]}/recordsets`;
  return t;
}

/** `a` is `b` or lives below it. */
export function isSameOrBelow(a: string, b: string): boolean {
  const la = lower(a);
  const lb = lower(b);
  return la === lb || la.startsWith(lb + "/");
}
