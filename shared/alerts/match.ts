// Which registered stack an alert is about, and what it asks for: a pure function from a parsed
// alert and the registry's stacks to StackSignals (heal, scale-out, scale-in) or, when nothing in it
// is Jumpgate's, an IgnoredAlert with a precise reason. An alert can never make Jumpgate touch a
// resource it doesn't manage: a target is ours only if its ARM id is, case-insensitively, one a
// registered stack's spec derives (shared/graph/names.ts), in the stack's own subscription and
// resource group. No ARM call is made: the names alone decide.
//
// Rules, per target (essentials.alertTargetIDs, plus `_ResourceId` / `ResourceId` dimensions of a
// log search alert, which name the VM behind a workspace):
//   - a web VM of a stack (`<stack>-web-<n>` in availability-set mode; `<stack>-vmss_<id>`, the
//     name Azure gives a Flexible scale set's VMs, in scale-set mode):
//       metric VmAvailabilityMetric                              → heal, node = the VM
//       metric "Percentage CPU" or jumpgate/liveSessions          → scale (see below), node = the VM
//       log search alert                                          → heal, node = the VM
//       Resource Health event                                     → heal, node = the VM
//   - the stack's scale set (scale-set mode):
//       metric VmAvailabilityMetric with a VMName dimension       → heal, node = VMName (one per VM)
//       metric VmAvailabilityMetric without it                    → heal, no node (check every node)
//       metric "Percentage CPU" or jumpgate/liveSessions          → scale
//       log search alert or Resource Health event                 → heal, no node
//   - the stack's load balancer:
//       metric DipAvailability with BackendIPAddress dimensions   → heal, backendIp = each address in
//                                                                   the web subnet (one signal each)
//       metric DipAvailability without that dimension             → heal, no node (check every node)
//   - scale direction: operator GreaterThan / GreaterThanOrEqual → scale-out, LessThan /
//     LessThanOrEqual (or LowerThan...) → scale-in; a dynamic threshold's GreaterOrLessThan goes by
//     which side of the threshold the value is on.
//   - Fired / Resolved comes from essentials.monitorCondition. Resource Health alerts are activity
//     log alerts, which always say Fired: there a Resolved status, a ".../Resolved/action" operation
//     or currentHealthStatus Available means Resolved. The heal orchestration must treat a
//     UserInitiated Resource Health event with care: it may be its own restart.
//   - Everything else is skipped with a reason: other subscriptions and resource groups, names no
//     stack derives, other resources of a stack (database, vault, network, availability set), other
//     metrics, administrative activity-log events (e.g. a restart, maybe our own), Service Health
//     (about Azure services, not a node), a stack whose teardown is running. An alert with a managed
//     and an unmanaged target yields signals for the managed one only; with none, it is ignored.
//
// The custom metric: the node agent's live Guacamole session count is `liveSessions` in the custom
// metric namespace `jumpgate` (written `jumpgate/liveSessions`), on each web VM.
//
// One signal per (stack, intent, node or backend) per notification: an alert with many targets,
// criteria and dimensions asks each node for one thing at most, so what a criterion or dimension
// adds for a node it already names is folded into that node's signal ("... and 3 more"). One
// notification can then write at most (targets + backends) x intents rows, not targets x criteria
// x dimensions (a fan-out of 5,000 rows once made the intake miss Azure's deadline).
//
// Signal ids: sha256 (hex) of the alert id, the time and state of the notification (fired or
// resolved time, Fired/Resolved), the stack, the intent, and the node or backend. Azure's retries
// resend the same notification, so they get the same id and the inbox keeps one; Fired and
// Resolved, or two backends of one alert, stay distinct.
import { createHash } from "node:crypto";
import { ALERT_METRICS } from "../azure/metrics";
import { stackNames } from "../graph/names";
import { parseCidr, parseIpv4 } from "../ipv4";
import type { AlertRoutingSpec } from "../store/alert-routes";
import type { AlertCriterion, ParsedAlert } from "./parse";
import type { AlertCondition, IgnoredAlert, ScaleMetricClaim, SignalIntent, StackSignal } from "./signal";

/** A registered stack as the matcher needs it (a StackRecord, or an alert routing index entry, fits). */
export interface AlertStack {
  name: string;
  spec: AlertRoutingSpec;
  /** the running operation, if any: a teardown makes the stack ignore alerts */
  operation?: { kind: string } | undefined;
}

export interface SkippedTarget {
  /** the target as sent */
  target: string;
  reason: string;
}

export interface AlertMatch {
  /** one per thing the alert asks of a stack; empty when the alert is ignored */
  signals: StackSignal[];
  /** targets that gave no signal, with why */
  skipped: SkippedTarget[];
  /** present when no target gave a signal */
  ignored?: IgnoredAlert;
}

const REASON_CHARS = 1000;
const SUMMARY_CHARS = 300;
const IGNORED_TARGETS = 10;
const TARGET_CHARS = 512;

export function matchAlert(alert: ParsedAlert, stacks: readonly AlertStack[], receivedAt: string): AlertMatch {
  if (alert.family === "service-health") {
    return ignore(alert, receivedAt, [
      "Service Health events are about Azure services in a region, not about a node; Jumpgate does not act on them",
    ]);
  }
  const targets = targetsOf(alert);
  if (targets.length === 0) return ignore(alert, receivedAt, ["the alert names no target resource"]);

  // one draft per (stack, intent, node or backend); later ones only count
  const collapsed = new Map<string, { draft: Draft; more: number }>();
  const skipped: SkippedTarget[] = [];
  for (const target of targets) {
    const outcome = matchTarget(alert, target, stacks);
    if (outcome.drafts.length === 0) {
      skipped.push({ target: target.original, reason: outcome.reasons.join("; ") || "nothing to do" });
      continue;
    }
    for (const draft of outcome.drafts) {
      const key = JSON.stringify([draft.stack, draft.intent, draft.node?.toLowerCase() ?? "", draft.backendIp ?? ""]);
      const seen = collapsed.get(key);
      if (seen) seen.more++;
      else collapsed.set(key, { draft, more: 0 });
    }
  }
  if (collapsed.size === 0) {
    const reasons = skipped.map((s) => `${s.target}: ${s.reason}`);
    return { ...ignore(alert, receivedAt, reasons), skipped };
  }
  const signals = [...collapsed.values()].map(({ draft, more }) =>
    finish(alert, more > 0 ? { ...draft, summary: `${draft.summary} (and ${more} more)` } : draft, receivedAt),
  );
  return { signals, skipped };
}

// ---------------------------------------------------------------------------------------------
// Targets

/** The (subscription, resource group) pairs an alert's targets are in, lower case: where its stacks can be. */
export function alertResourceGroups(alert: ParsedAlert): { subscription: string; resourceGroup: string }[] {
  const groups = new Map<string, { subscription: string; resourceGroup: string }>();
  for (const target of targetsOf(alert)) {
    const m = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)/.exec(target.id);
    if (m) groups.set(`${m[1]}/${m[2]}`, { subscription: m[1], resourceGroup: m[2] });
  }
  return [...groups.values()];
}

interface Target {
  /** lowercased ARM id */
  id: string;
  /** as sent */
  original: string;
}

const RESOURCE_ID_DIMENSIONS = new Set(["_resourceid", "resourceid"]);

function targetsOf(alert: ParsedAlert): Target[] {
  const targets: Target[] = alert.targets.map((id, i) => ({ id, original: alert.targetIds[i] }));
  if (alert.family === "log") {
    for (const criterion of alert.criteria) {
      for (const d of criterion.dimensions) {
        const value = d.value.trim().replace(/\/+$/, "");
        if (!RESOURCE_ID_DIMENSIONS.has(d.name.toLowerCase()) || !value.toLowerCase().startsWith("/subscriptions/"))
          continue;
        const id = value.toLowerCase();
        if (!targets.some((t) => t.id === id)) targets.push({ id, original: value });
      }
    }
  }
  return targets;
}

interface ArmRef {
  subscription: string;
  resourceGroup?: string;
  /** e.g. "microsoft.compute/virtualmachines", or "microsoft.network/loadbalancers/probes" for a child */
  type?: string;
  /** the last name in the id */
  name?: string;
  /** the last name as sent */
  originalName?: string;
  /** 1 for a top-level resource, 2 for its child, ... */
  depth: number;
}

function parseArmId(id: string, original: string): ArmRef | undefined {
  const m =
    /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+)(?:\/providers\/([^/]+)((?:\/[^/]+\/[^/]+)+))?)?$/.exec(id);
  if (!m) return undefined;
  const [, subscription, resourceGroup, provider, rest] = m;
  if (!rest) return { subscription, resourceGroup, depth: 0 };
  const parts = rest.slice(1).split("/");
  const types = parts.filter((_, i) => i % 2 === 0);
  return {
    subscription,
    resourceGroup,
    type: [provider, ...types].join("/"),
    name: parts[parts.length - 1],
    originalName: original.split("/").pop(),
    depth: types.length,
  };
}

type Role =
  | { kind: "web-vm"; node: string }
  | { kind: "scale-set" }
  | { kind: "load-balancer" }
  | { kind: "availability-set" }
  | { kind: "stack-resource" };

/** What the resource is to this stack, or undefined when the stack's spec derives no such id. */
function roleIn(stack: AlertStack, ref: ArmRef, id: string): Role | undefined {
  const names = stackNames(stack.spec);
  const scaleSet = stack.spec.fleet.mode === "scaleSet";
  if (ref.type === "microsoft.compute/virtualmachines" && ref.depth === 1 && isWebVmName(stack, ref.name ?? "")) {
    return { kind: "web-vm", node: ref.originalName ?? ref.name ?? "" };
  }
  if (scaleSet && id === names.scaleSetId.toLowerCase()) return { kind: "scale-set" };
  if (id === names.loadBalancerId.toLowerCase()) return { kind: "load-balancer" };
  if (!scaleSet && id === names.availabilitySetId.toLowerCase()) return { kind: "availability-set" };
  const owned = [
    names.vnetId,
    names.webNsgId,
    names.dbNsgId,
    names.publicIpId,
    names.keyVaultId,
    names.mysqlServerId,
    names.privateDnsZoneId,
    names.loadBalancerId,
  ].map((x) => x.toLowerCase());
  if (owned.some((x) => id === x || id.startsWith(`${x}/`))) return { kind: "stack-resource" };
  // a web VM's own NIC and disk, or a child of a web VM (extensions, run commands)
  const webPart =
    /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.compute\/virtualmachines\/([^/]+)\//.exec(
      id,
    );
  if (webPart && isWebVmName(stack, webPart[1])) return { kind: "stack-resource" };
  if (
    (ref.type === "microsoft.network/networkinterfaces" || ref.type === "microsoft.compute/disks") &&
    ref.depth === 1 &&
    (ref.name ?? "").startsWith(`${stack.name}-`)
  )
    return { kind: "stack-resource" };
  return undefined;
}

/** Web VM names of a stack: `<stack>-web-<n>` (availability set) or `<stack>-vmss_<id>` (scale set). */
export function isWebVmName(stack: Pick<AlertStack, "name" | "spec">, name: string): boolean {
  const lower = name.toLowerCase();
  if (stack.spec.fleet.mode === "scaleSet") {
    const prefix = `${stackNames(stack.spec).scaleSet}_`;
    return lower.startsWith(prefix) && /^[a-z0-9]{1,32}$/.test(lower.slice(prefix.length));
  }
  const prefix = `${stack.name}-web-`;
  return lower.startsWith(prefix) && /^[1-9][0-9]{0,2}$/.test(lower.slice(prefix.length));
}

// ---------------------------------------------------------------------------------------------
// One target

interface Draft {
  stack: string;
  intent: SignalIntent;
  condition: AlertCondition;
  node?: string;
  backendIp?: string;
  summary: string;
  /** scale signals: the metric the alert says is too high or too low */
  metric?: ScaleMetricClaim;
}

interface Outcome {
  drafts: Draft[];
  reasons: string[];
}

function matchTarget(alert: ParsedAlert, target: Target, stacks: readonly AlertStack[]): Outcome {
  const skip = (reason: string): Outcome => ({ drafts: [], reasons: [reason] });
  const ref = parseArmId(target.id, target.original);
  if (!ref) return skip("not an Azure resource id");
  if (ref.resourceGroup === undefined) return skip("a subscription, not a resource of a stack");
  if (ref.type === undefined) return skip("a resource group, not a resource of a stack");

  const here = stacks.filter(
    (s) =>
      s.spec.subscriptionId.toLowerCase() === ref.subscription &&
      s.spec.resourceGroup.toLowerCase() === ref.resourceGroup,
  );
  if (here.length === 0) {
    const sameSubscription = stacks.some((s) => s.spec.subscriptionId.toLowerCase() === ref.subscription);
    return skip(
      sameSubscription
        ? `no registered stack is in resource group '${ref.resourceGroup}'`
        : `no registered stack is in subscription '${ref.subscription}'`,
    );
  }
  let found: { stack: AlertStack; role: Role } | undefined;
  for (const stack of here) {
    const role = roleIn(stack, ref, target.id);
    if (role) {
      found = { stack, role };
      break;
    }
  }
  if (!found) {
    const list = here.map((s) => `'${s.name}'`).join(", ");
    return skip(
      `${typeLabel(ref.type)} '${ref.originalName ?? ref.name}' is not a resource of stack ${list} in that resource group`,
    );
  }
  const { stack, role } = found;
  if (stack.operation?.kind === "teardown") return skip(`stack '${stack.name}' is being torn down`);

  switch (role.kind) {
    case "web-vm":
      return webVm(alert, stack, role.node);
    case "scale-set":
      return scaleSetTarget(alert, stack);
    case "load-balancer":
      return loadBalancer(alert, stack);
    case "availability-set":
      return skip(
        `availability set '${stackNames(stack.spec).availabilitySet}' of stack '${stack.name}' has no metrics of its own; alert on its web VMs`,
      );
    case "stack-resource":
      return skip(
        `${typeLabel(ref.type)} '${ref.originalName ?? ref.name}' belongs to stack '${stack.name}', but Jumpgate heals and scales only its web nodes from alerts`,
      );
  }
}

function webVm(alert: ParsedAlert, stack: AlertStack, node: string): Outcome {
  const base = { stack: stack.name, node };
  switch (alert.family) {
    case "metric":
      return perCriterion(alert, "web VM", (c) => {
        if (isMetric(c, ALERT_METRICS.vmAvailability))
          return heal(alert, { ...base, summary: metricSummary(c, `on ${node}`) });
        if (isScaleMetric(c)) return scale(alert, c, { ...base, summary: metricSummary(c, `on ${node}`) });
        return `metric '${c.metricName ?? "(unnamed)"}' on a web VM is not one Jumpgate acts on (heal: ${ALERT_METRICS.vmAvailability}; scale: ${ALERT_METRICS.cpu}, jumpgate/liveSessions)`;
      });
    case "log":
      return { drafts: [heal(alert, { ...base, summary: logSummary(alert, node) })], reasons: [] };
    case "resource-health":
      return {
        drafts: [heal(alert, { ...base, summary: resourceHealthSummary(alert) })],
        reasons: [],
      };
    default:
      return { drafts: [], reasons: [notActedOn(alert)] };
  }
}

function scaleSetTarget(alert: ParsedAlert, stack: AlertStack): Outcome {
  const scaleSet = stackNames(stack.spec).scaleSet;
  const base = { stack: stack.name };
  switch (alert.family) {
    case "metric":
      return perCriterion(alert, "scale set", (c) => {
        if (isMetric(c, ALERT_METRICS.vmAvailability)) {
          const vms = dimensionValues(c, "VMName");
          if (vms.length === 0) return heal(alert, { ...base, summary: metricSummary(c, `on ${scaleSet}`) });
          const drafts: Draft[] = [];
          const reasons: string[] = [];
          for (const vm of vms) {
            if (isWebVmName(stack, vm))
              drafts.push(heal(alert, { ...base, node: vm, summary: metricSummary(c, `on ${vm}`) }));
            else reasons.push(`VMName '${vm}' is not a VM of scale set '${scaleSet}'`);
          }
          return drafts.length > 0 ? drafts : reasons.join("; ");
        }
        if (isScaleMetric(c)) return scale(alert, c, { ...base, summary: metricSummary(c, `on ${scaleSet}`) });
        return `metric '${c.metricName ?? "(unnamed)"}' on the scale set is not one Jumpgate acts on (heal: ${ALERT_METRICS.vmAvailability}; scale: ${ALERT_METRICS.cpu}, jumpgate/liveSessions)`;
      });
    case "log":
      return { drafts: [heal(alert, { ...base, summary: logSummary(alert) })], reasons: [] };
    case "resource-health":
      return {
        drafts: [heal(alert, { ...base, summary: resourceHealthSummary(alert) })],
        reasons: [],
      };
    default:
      return { drafts: [], reasons: [notActedOn(alert)] };
  }
}

function loadBalancer(alert: ParsedAlert, stack: AlertStack): Outcome {
  if (alert.family !== "metric") {
    return {
      drafts: [],
      reasons: [
        `a ${familyLabel(alert)} about the load balancer names no web node; Jumpgate acts on its ${ALERT_METRICS.probe} metric`,
      ],
    };
  }
  const subnet = parseCidr(stack.spec.network.webSubnet);
  const base = { stack: stack.name };
  return perCriterion(alert, "load balancer", (c) => {
    if (!isMetric(c, ALERT_METRICS.probe))
      return `metric '${c.metricName ?? "(unnamed)"}' of the load balancer is not one Jumpgate acts on (${ALERT_METRICS.probe} is)`;
    const backends = dimensionValues(c, "BackendIPAddress");
    if (backends.length === 0) return heal(alert, { ...base, summary: metricSummary(c, "for every backend") });
    const drafts: Draft[] = [];
    const reasons: string[] = [];
    for (const address of backends) {
      const ip = parseIpv4(address);
      if (ip === undefined) reasons.push(`BackendIPAddress '${address}' is not an IPv4 address`);
      else if (subnet && (ip < subnet.first || ip > subnet.last))
        reasons.push(`BackendIPAddress '${address}' is outside the web subnet ${stack.spec.network.webSubnet}`);
      else
        drafts.push(
          heal(alert, {
            ...base,
            backendIp: address.trim(),
            summary: metricSummary(c, `for ${address.trim()}`),
          }),
        );
    }
    return drafts.length > 0 ? drafts : reasons.join("; ");
  });
}

/** Runs `each` over the alert's criteria; a string result is a reason to skip that criterion. */
function perCriterion(
  alert: ParsedAlert,
  what: string,
  each: (c: AlertCriterion) => Draft | Draft[] | string,
): Outcome {
  if (alert.criteria.length === 0)
    return { drafts: [], reasons: [`the metric alert on the ${what} has no criteria Jumpgate can read`] };
  const drafts: Draft[] = [];
  const reasons: string[] = [];
  for (const c of alert.criteria) {
    const result = each(c);
    if (typeof result === "string") reasons.push(result);
    else drafts.push(...(Array.isArray(result) ? result : [result]));
  }
  return { drafts, reasons };
}

function heal(alert: ParsedAlert, draft: Omit<Draft, "intent" | "condition">): Draft {
  return { ...draft, intent: "heal", condition: conditionOf(alert) };
}

function scale(alert: ParsedAlert, c: AlertCriterion, draft: Omit<Draft, "intent" | "condition">): Draft | string {
  const intent = scaleDirection(c);
  if (!intent)
    return `operator '${c.operator ?? "(none)"}' of metric '${c.metricName ?? "(unnamed)"}' says neither too busy nor too idle`;
  return {
    ...draft,
    intent,
    condition: conditionOf(alert),
    metric: isMetric(c, ALERT_METRICS.cpu) ? "cpu" : "sessions",
  };
}

function conditionOf(alert: ParsedAlert): AlertCondition {
  if (alert.monitorCondition === "Resolved") return "Resolved";
  return alert.resourceHealth?.recovered ? "Resolved" : "Fired";
}

function scaleDirection(c: AlertCriterion): "scale-out" | "scale-in" | undefined {
  const op = (c.operator ?? "").toLowerCase().replace(/[\s_]+/g, "");
  if (op === "greaterthan" || op === "greaterthanorequal") return "scale-out";
  if (["lessthan", "lessthanorequal", "lowerthan", "lowerthanorequal"].includes(op)) return "scale-in";
  if (op === "greaterorlessthan" && c.metricValue !== undefined && c.threshold !== undefined) {
    if (c.metricValue > c.threshold) return "scale-out";
    if (c.metricValue < c.threshold) return "scale-in";
  }
  return undefined;
}

function isMetric(c: AlertCriterion, name: string): boolean {
  return (c.metricName ?? "").toLowerCase() === name.toLowerCase();
}

function isScaleMetric(c: AlertCriterion): boolean {
  if (isMetric(c, ALERT_METRICS.cpu)) return true;
  const { namespace, name } = ALERT_METRICS.liveSessions;
  if (isMetric(c, `${namespace}/${name}`)) return true;
  return isMetric(c, name) && (c.namespace ?? "").toLowerCase() === namespace;
}

function dimensionValues(c: AlertCriterion, name: string): string[] {
  const values = c.dimensions.filter((d) => d.name.toLowerCase() === name.toLowerCase()).map((d) => d.value.trim());
  return [...new Set(values.filter((v) => v !== ""))];
}

function notActedOn(alert: ParsedAlert): string {
  if (alert.family === "activity-log") {
    const op = alert.activityLog?.operationName ?? "(no operation)";
    const source = alert.activityLog?.eventSource ? ` (${alert.activityLog.eventSource})` : "";
    return `activity log event '${op}'${source} is not a health signal; Jumpgate acts on Resource Health events`;
  }
  return `alerts with signal type '${alert.signalType || "(none)"}' are not acted on`;
}

function familyLabel(alert: ParsedAlert): string {
  switch (alert.family) {
    case "resource-health":
      return "Resource Health event";
    case "log":
      return "log search alert";
    case "activity-log":
      return "activity log alert";
    default:
      return `'${alert.signalType || "unknown"}' alert`;
  }
}

const TYPE_LABELS: Record<string, string> = {
  "microsoft.compute/virtualmachines": "virtual machine",
  "microsoft.compute/virtualmachinescalesets": "scale set",
  "microsoft.compute/availabilitysets": "availability set",
  "microsoft.network/loadbalancers": "load balancer",
  "microsoft.network/publicipaddresses": "public IP address",
  "microsoft.network/virtualnetworks": "virtual network",
  "microsoft.network/networksecuritygroups": "network security group",
  "microsoft.network/networkinterfaces": "network interface",
  "microsoft.compute/disks": "disk",
  "microsoft.keyvault/vaults": "key vault",
  "microsoft.dbformysql/flexibleservers": "MySQL flexible server",
  "microsoft.network/privatednszones": "private DNS zone",
};

function typeLabel(type: string): string {
  return TYPE_LABELS[type] ?? `resource of type '${type}'`;
}

// ---------------------------------------------------------------------------------------------
// Summaries and ids

const OPERATOR_SYMBOLS: Record<string, string> = {
  greaterthan: ">",
  greaterthanorequal: ">=",
  lessthan: "<",
  lowerthan: "<",
  lessthanorequal: "<=",
  lowerthanorequal: "<=",
  greaterorlessthan: "<>",
  equals: "=",
  equal: "=",
};

function metricSummary(c: AlertCriterion, where: string): string {
  const op = (c.operator ?? "").toLowerCase().replace(/[\s_]+/g, "");
  const symbol = OPERATOR_SYMBOLS[op] ?? c.operator ?? "?";
  const value = c.metricValue === undefined ? "?" : String(c.metricValue);
  const threshold = c.threshold === undefined ? "?" : String(c.threshold);
  return `${c.metricName ?? "(unnamed metric)"} ${value} ${symbol} ${threshold} ${where}`;
}

function logSummary(alert: ParsedAlert, node?: string): string {
  const c = alert.criteria[0];
  const query = (c?.searchQuery ?? "").replace(/\s+/g, " ").slice(0, 120);
  const value = c?.metricValue === undefined ? "" : ` = ${c.metricValue}`;
  return `log search alert${node ? ` on ${node}` : ""}${query ? `: ${query}` : ""}${value}`;
}

function resourceHealthSummary(alert: ParsedAlert): string {
  const rh = alert.resourceHealth;
  const now = rh?.currentHealthStatus ?? "?";
  const before = rh?.previousHealthStatus ? ` (was ${rh.previousHealthStatus})` : "";
  const cause = rh?.cause ? `, ${rh.cause}` : "";
  const title = rh?.title ? `: ${rh.title}` : "";
  return `Resource Health ${now}${before}${cause}${title}`;
}

function finish(alert: ParsedAlert, draft: Draft, receivedAt: string): StackSignal {
  const at = draft.condition === "Resolved" ? (alert.resolvedAt ?? alert.firedAt) : alert.firedAt;
  const id = hashId([
    "signal/v2",
    alert.alertId.toLowerCase(),
    at,
    draft.condition,
    draft.stack,
    draft.intent,
    draft.node?.toLowerCase() ?? "",
    draft.backendIp ?? "",
  ]);
  const resolved = draft.condition === "Resolved" ? "resolved: " : "";
  return {
    id,
    stack: draft.stack,
    intent: draft.intent,
    condition: draft.condition,
    ...(draft.node !== undefined ? { node: draft.node } : {}),
    ...(draft.backendIp !== undefined ? { backendIp: draft.backendIp } : {}),
    ...(draft.metric !== undefined ? { metric: draft.metric } : {}),
    rule: alert.rule,
    signalType: alert.signalType,
    summary: cut(`${resolved}${draft.summary}`, SUMMARY_CHARS),
    alertId: alert.alertId,
    at,
    receivedAt,
  };
}

function ignore(alert: ParsedAlert, receivedAt: string, reasons: string[]): AlertMatch {
  const ignored: IgnoredAlert = {
    id: hashId([
      "ignored/v1",
      alert.alertId.toLowerCase(),
      alert.monitorCondition,
      alert.firedAt,
      alert.resolvedAt ?? "",
    ]),
    alertId: alert.alertId,
    rule: alert.rule,
    reason: cut(reasons.join("; "), REASON_CHARS),
    targets: alert.targetIds.slice(0, IGNORED_TARGETS).map((t) => cut(t, TARGET_CHARS)),
    receivedAt,
  };
  return { signals: [], skipped: [], ignored };
}

/** sha256 hex of the parts as JSON: 64 characters, safe as a Table Storage RowKey. */
function hashId(parts: unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
