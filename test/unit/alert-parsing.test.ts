// Alert intake without the host: real-shaped common alert schema notifications (test/fixtures/alerts,
// written from Microsoft's documented samples with this test's resource ids) are parsed and matched
// against registered stacks; hostile and malformed payloads are refused with JSON pointers.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { ALERT_LIMITS } from "../../shared/alerts/common-alert-schema";
import { isWebVmName, matchAlert, type AlertStack } from "../../shared/alerts/match";
import { parseAlert, parseAlertBody, parseAlertTime, type ParsedAlert } from "../../shared/alerts/parse";
import { stackNames } from "../../shared/graph/names";
import { validateStackSpec } from "../../shared/spec";

const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "alerts");
const SUB = "7c0a1e2b-3d4f-4a5b-8c6d-9e0f1a2b3c4d";
const RECEIVED = "2026-11-21T18:00:00.000Z";

type Json = Record<string, unknown>;

function fixture(name: string): Json {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), "utf8")) as Json;
}

function stack(name: string, extra: Json, operation?: { kind: string }): AlertStack {
  const result = validateStackSpec({ name, subscriptionId: SUB, location: "westeurope", ...extra });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return { name, spec: result.spec, operation };
}

/** web1: availability set in "rg-Jump" (mixed case, as a user may write it); fleet: scale set in rg-fleet. */
const STACKS: AlertStack[] = [
  stack("web1", { resourceGroup: "rg-Jump", fleet: { mode: "availabilitySet", size: 2 } }),
  stack("fleet", { resourceGroup: "rg-fleet", fleet: { mode: "scaleSet", size: 2 } }),
];

function parsed(payload: unknown): ParsedAlert {
  const result = parseAlert(payload);
  if (!result.ok) assert.fail(`expected a valid alert, got ${JSON.stringify(result.errors, null, 1)}`);
  return result.alert;
}

function match(payload: unknown, stacks: AlertStack[] = STACKS, receivedAt = RECEIVED) {
  return matchAlert(parsed(payload), stacks, receivedAt);
}

function essentials(payload: Json): Json {
  return (payload.data as Json).essentials as Json;
}

function criterion(payload: Json, i = 0): Json {
  const context = (payload.data as Json).alertContext as Json;
  return ((context.condition as Json).allOf as Json[])[i];
}

const vmId = (rg: string, name: string, sub = SUB) =>
  `/subscriptions/${sub}/resourcegroups/${rg}/providers/microsoft.compute/virtualmachines/${name}`;

describe("common alert schema: real shapes parse", () => {
  test("every fixture is accepted", () => {
    for (const file of fs.readdirSync(FIXTURES).filter((f) => f.endsWith(".json"))) {
      const result = parseAlert(fixture(file.replace(/\.json$/, "")));
      assert.ok(result.ok, `${file}: ${JSON.stringify(!result.ok && result.errors)}`);
    }
  });

  test("a metric alert is normalized: lowercased targets, numeric threshold, criteria, UTC milliseconds", () => {
    const alert = parsed(fixture("metric-lb-dip-fired"));
    assert.equal(alert.family, "metric");
    assert.equal(alert.monitorCondition, "Fired");
    assert.equal(alert.rule, "web1-backend-probe");
    assert.equal(alert.firedAt, "2026-11-21T09:14:03.471Z");
    assert.deepEqual(alert.targets, [
      `/subscriptions/${SUB}/resourcegroups/rg-jump/providers/microsoft.network/loadbalancers/web1-lb`,
    ]);
    assert.equal(alert.conditionType, "SingleResourceMultipleMetricCriteria");
    assert.equal(alert.criteria.length, 1);
    const c = alert.criteria[0];
    assert.equal(c.metricName, "DipAvailability");
    assert.equal(c.threshold, 100);
    assert.equal(c.metricValue, 0);
    assert.equal(c.operator, "LessThan");
    assert.deepEqual(c.dimensions[0], { name: "BackendIPAddress", value: "10.40.1.5" });
  });

  test("Resource Health facts are read from the activity log context", () => {
    const alert = parsed(fixture("resource-health-vm"));
    assert.equal(alert.family, "resource-health");
    assert.deepEqual(alert.resourceHealth, {
      currentHealthStatus: "Unavailable",
      previousHealthStatus: "Available",
      title: "We're sorry, your virtual machine isn't available because an unexpected failure on the host server",
      type: "Downtime",
      cause: "PlatformInitiated",
      status: "Active",
      operationName: "Microsoft.Resourcehealth/healthevent/Activated/action",
      recovered: false,
    });
  });

  test("documented oddities are tolerated: nulls, numeric channels, unknown fields anywhere, versions 1.1", () => {
    const p = fixture("metric-lb-dip-fired");
    essentials(p).alertContextVersion = "1.1";
    essentials(p).someFutureField = { nested: [1, "two", null] };
    Object.assign(criterion(p), { dimensions: null, operator: null, threshold: null, metricNamespace: null });
    Object.assign((p.data as Json).alertContext as Json, { extra: true, properties: { a: "b" } });
    ((p.data as Json).alertContext as Json).condition = {
      ...(((p.data as Json).alertContext as Json).condition as Json),
      windowSize: null,
      windowStartTime: null,
    };
    p.unknownTopLevel = "tolerated";
    const alert = parsed(p);
    assert.equal(alert.alertContextVersion, "1.1");
    assert.deepEqual(alert.criteria[0].dimensions, []);
    assert.equal(alert.criteria[0].threshold, undefined);
  });

  test("date-times: Azure's 7 fractional digits, offsets, no zone (UTC); impossible dates are refused", () => {
    assert.equal(parseAlertTime("2019-03-22T13:58:24.3713213Z"), "2019-03-22T13:58:24.371Z");
    assert.equal(parseAlertTime("2019-06-24T15:42:54.074+02:00"), "2019-06-24T13:42:54.074Z");
    assert.equal(parseAlertTime("2019-06-24T15:42:54+0000"), "2019-06-24T15:42:54.000Z");
    assert.equal(parseAlertTime("2019-06-24T15:42:54"), "2019-06-24T15:42:54.000Z");
    for (const bad of [
      "2026-02-30T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-01-01T24:00:00Z",
      "3/22/2019 1:36:31 PM",
      "",
    ])
      assert.equal(parseAlertTime(bad), undefined, bad);
  });
});

describe("matching alerts to registered stacks", () => {
  test("DipAvailability on the stack's load balancer heals the backend the dimension names", () => {
    const { signals, ignored } = match(fixture("metric-lb-dip-fired"));
    assert.equal(ignored, undefined);
    assert.equal(signals.length, 1);
    const [s] = signals;
    assert.equal(s.stack, "web1");
    assert.equal(s.intent, "heal");
    assert.equal(s.condition, "Fired");
    assert.equal(s.backendIp, "10.40.1.5");
    assert.equal(s.node, undefined);
    assert.equal(s.rule, "web1-backend-probe");
    assert.equal(s.signalType, "Metric");
    assert.equal(s.summary, "DipAvailability 0 < 100 for 10.40.1.5");
    assert.equal(s.at, "2026-11-21T09:14:03.471Z");
    assert.equal(s.receivedAt, RECEIVED);
    assert.match(s.id, /^[0-9a-f]{64}$/);
  });

  test("redeliveries get the same signal id; Resolved gets another, timed at resolution", () => {
    const first = match(fixture("metric-lb-dip-fired")).signals[0];
    const again = match(fixture("metric-lb-dip-fired"), STACKS, "2026-11-21T18:00:25.000Z").signals[0];
    assert.equal(again.id, first.id, "a retry of the same notification collapses");
    const resolved = match(fixture("metric-lb-dip-resolved")).signals[0];
    assert.notEqual(resolved.id, first.id);
    assert.equal(resolved.condition, "Resolved");
    assert.equal(resolved.at, "2026-11-21T09:31:17.095Z");
    assert.match(resolved.summary, /^resolved: DipAvailability 100 < 100 for 10\.40\.1\.5$/);
  });

  test("DipAvailability without BackendIPAddress: one signal for the whole fleet; two backends: two signals", () => {
    const whole = fixture("metric-lb-dip-fired");
    criterion(whole).dimensions = [{ name: "FrontendPort", value: "443" }];
    const [one] = match(whole).signals;
    assert.equal(one.backendIp, undefined);
    assert.equal(one.node, undefined);
    assert.equal(one.intent, "heal");

    const two = fixture("metric-lb-dip-fired");
    criterion(two).dimensions = [
      { name: "BackendIPAddress", value: "10.40.1.4" },
      { name: "BackendIPAddress", value: "10.40.1.5" },
    ];
    const signals = match(two).signals;
    assert.deepEqual(signals.map((s) => s.backendIp).sort(), ["10.40.1.4", "10.40.1.5"]);
    assert.notEqual(signals[0].id, signals[1].id);
  });

  test("a backend address outside the stack's web subnet is not a node of it", () => {
    const p = fixture("metric-lb-dip-fired");
    criterion(p).dimensions = [{ name: "BackendIPAddress", value: "192.168.7.7" }];
    const { signals, ignored } = match(p);
    assert.equal(signals.length, 0);
    assert.match(ignored!.reason, /BackendIPAddress '192\.168\.7\.7' is outside the web subnet 10\.40\.1\.0\/24/);
  });

  test("VmAvailabilityMetric on the scale set heals the VM its VMName dimension names", () => {
    const { signals } = match(fixture("metric-vmss-vm-availability"));
    assert.equal(signals.length, 1);
    assert.equal(signals[0].stack, "fleet");
    assert.equal(signals[0].intent, "heal");
    assert.equal(signals[0].node, "fleet-vmss_4f1c8a2e");

    const foreign = fixture("metric-vmss-vm-availability");
    criterion(foreign).dimensions = [{ name: "VMName", value: "someone-elses-vm" }];
    assert.match(match(foreign).ignored!.reason, /VMName 'someone-elses-vm' is not a VM of scale set 'fleet-vmss'/);

    const all = fixture("metric-vmss-vm-availability");
    criterion(all).dimensions = [];
    const [every] = match(all).signals;
    assert.equal(every.node, undefined);
    assert.equal(every.intent, "heal");
  });

  test("Resource Health on a web VM heals it; Available or a Resolved event resolves", () => {
    const [s] = match(fixture("resource-health-vm")).signals;
    assert.equal(s.stack, "web1");
    assert.equal(s.intent, "heal");
    assert.equal(s.node, "web1-web-2");
    assert.equal(s.condition, "Fired");
    assert.equal(s.signalType, "Activity Log");
    assert.match(s.summary, /^Resource Health Unavailable \(was Available\), PlatformInitiated: /);

    const back = fixture("resource-health-vm");
    essentials(back).alertId = `${String(essentials(back).alertId)}-2`;
    const context = (back.data as Json).alertContext as Json;
    context.operationName = "Microsoft.Resourcehealth/healthevent/Resolved/action";
    context.status = "Resolved";
    (context.properties as Json).currentHealthStatus = "Available";
    (context.properties as Json).previousHealthStatus = "Unavailable";
    const [resolved] = match(back).signals;
    assert.equal(resolved.condition, "Resolved");
    assert.equal(resolved.node, "web1-web-2");
  });

  test("a log search alert V2 on a workspace heals the VM its _ResourceId dimension names", () => {
    const { signals, skipped } = match(fixture("log-search-v2"));
    assert.equal(signals.length, 1);
    assert.equal(signals[0].stack, "web1");
    assert.equal(signals[0].node, "web1-web-1");
    assert.equal(signals[0].intent, "heal");
    assert.equal(signals[0].signalType, "Log");
    assert.match(signals[0].summary, /^log search alert on web1-web-1: Syslog \| where ProcessName/);
    assert.equal(skipped.length, 1, "the workspace itself is not a stack resource");
    assert.match(skipped[0].reason, /no registered stack is in resource group 'rg-monitoring'/);
  });

  test("a log alert V1 that names only a computer is ignored: a name alone does not prove it is ours", () => {
    const { signals, ignored } = match(fixture("log-search-v1-results"));
    assert.equal(signals.length, 0);
    assert.match(ignored!.reason, /law-ops: no registered stack is in resource group 'rg-monitoring'/);
  });

  test("CPU on the scale set scales: a dynamic threshold goes by the side of the value, static ones by operator", () => {
    const [out] = match(fixture("metric-vmss-cpu-dynamic")).signals;
    assert.equal(out.intent, "scale-out");
    assert.equal(out.stack, "fleet");
    assert.equal(out.summary, "Percentage CPU 88.4 <> 61.2749 on fleet-vmss");

    const idle = fixture("metric-vmss-cpu-dynamic");
    criterion(idle).metricValue = 3.2;
    assert.equal(match(idle).signals[0].intent, "scale-in");

    for (const [operator, intent] of [
      ["GreaterThan", "scale-out"],
      ["GreaterThanOrEqual", "scale-out"],
      ["LessThan", "scale-in"],
      ["LessThanOrEqual", "scale-in"],
    ]) {
      const p = fixture("metric-vmss-cpu-dynamic");
      criterion(p).operator = operator;
      assert.equal(match(p).signals[0].intent, intent, operator);
    }
    const equals = fixture("metric-vmss-cpu-dynamic");
    criterion(equals).operator = "Equals";
    assert.match(match(equals).ignored!.reason, /operator 'Equals' of metric 'Percentage CPU' says neither/);
  });

  test("the custom live-sessions metric on a web VM scales, with the VM as node", () => {
    const p = fixture("metric-lb-dip-fired");
    essentials(p).alertTargetIDs = [vmId("rg-jump", "web1-web-1")];
    Object.assign(criterion(p), {
      metricName: "liveSessions",
      metricNamespace: "jumpgate",
      operator: "GreaterThan",
      threshold: "40",
      metricValue: 57,
      dimensions: [],
    });
    const [s] = match(p).signals;
    assert.equal(s.intent, "scale-out");
    assert.equal(s.node, "web1-web-1");
    assert.equal(s.summary, "liveSessions 57 > 40 on web1-web-1");
    assert.equal(s.metric, "sessions", "a scale signal says which metric it claims");
    assert.equal(match(fixture("metric-vmss-cpu-dynamic")).signals[0].metric, "cpu");
  });

  test("one signal per (stack, intent, node) per notification, however many criteria and dimensions name it", () => {
    const p = fixture("metric-lb-dip-fired");
    essentials(p).alertTargetIDs = [
      vmId("rg-jump", "web1-web-1"),
      vmId("rg-jump", "WEB1-web-1"),
      vmId("rg-jump", "web1-web-2"),
    ];
    const cpu = (value: number, dim: string) => ({
      metricName: "Percentage CPU",
      metricNamespace: "Microsoft.Compute/virtualMachines",
      operator: "GreaterThan",
      threshold: "75",
      metricValue: value,
      dimensions: [{ name: "Core", value: dim }],
    });
    const available = {
      metricName: "VmAvailabilityMetric",
      operator: "LessThan",
      threshold: "1",
      metricValue: 0,
      dimensions: [],
    };
    ((p.data as Json).alertContext as { condition: { allOf: unknown[] } }).condition.allOf = [
      cpu(91, "0"),
      cpu(93, "1"),
      available,
      cpu(95, "2"),
    ];
    const { signals } = match(p);
    assert.deepEqual(
      signals.map((s) => [s.node, s.intent]),
      [
        ["web1-web-1", "scale-out"],
        ["web1-web-1", "heal"],
        ["web1-web-2", "scale-out"],
        ["web1-web-2", "heal"],
      ],
    );
    // the first criterion speaks for the node, the rest are counted (the second spelling of web-1 is
    // the same target)
    assert.equal(signals[0].summary, "Percentage CPU 91 > 75 on web1-web-1 (and 2 more)");
    assert.equal(signals[2].summary, "Percentage CPU 91 > 75 on web1-web-2 (and 2 more)");
    assert.equal(new Set(signals.map((s) => s.id)).size, 4);
    // a redelivery with the criteria in another order is the same signals
    const again = structuredClone(p);
    ((again.data as Json).alertContext as { condition: { allOf: unknown[] } }).condition.allOf.reverse();
    assert.deepEqual(
      match(again)
        .signals.map((s) => s.id)
        .sort(),
      signals.map((s) => s.id).sort(),
    );
  });

  test("other metrics, administrative events, Service Health and budget alerts are ignored with the reason", () => {
    const disk = fixture("metric-lb-dip-fired");
    essentials(disk).alertTargetIDs = [vmId("rg-jump", "web1-web-1")];
    criterion(disk).metricName = "Disk Read Bytes";
    assert.match(match(disk).ignored!.reason, /metric 'Disk Read Bytes' on a web VM is not one Jumpgate acts on/);

    const admin = match(fixture("activity-log-administrative"));
    assert.equal(admin.signals.length, 0);
    assert.match(
      admin.ignored!.reason,
      /activity log event 'Microsoft\.Compute\/virtualMachines\/restart\/action' \(Administrative\) is not a health signal/,
    );

    const health = match(fixture("service-health"));
    assert.equal(health.signals.length, 0);
    assert.match(health.ignored!.reason, /^Service Health events are about Azure services/);
    assert.deepEqual(health.ignored!.targets, [`/subscriptions/${SUB}`]);

    const budget = match(fixture("budget-test-action"));
    assert.equal(budget.ignored!.reason, "the alert names no target resource");
    assert.equal(budget.ignored!.rule, "(unnamed rule)");
    assert.match(budget.ignored!.id, /^[0-9a-f]{64}$/);
  });

  test("targets outside every registered stack are ignored precisely", () => {
    const cases: [string, RegExp][] = [
      [vmId("rg-jump", "web1-web-1", "00000000-0000-0000-0000-000000000999"), /no registered stack is in subscription/],
      [vmId("rg-other", "web1-web-1"), /no registered stack is in resource group 'rg-other'/],
      [vmId("rg-jump", "web1-jumpbox"), /virtual machine 'web1-jumpbox' is not a resource of stack 'web1'/],
      [vmId("rg-jump", "web1-vmss_4f1c8a2e"), /is not a resource of stack 'web1'/], // wrong fleet mode
      [vmId("rg-jump", "web1-web-0"), /is not a resource of stack 'web1'/],
      [
        `/subscriptions/${SUB}/resourcegroups/rg-jump/providers/microsoft.compute/availabilitysets/web1-avset`,
        /has no metrics of its own/,
      ],
      [
        `/subscriptions/${SUB}/resourceGroups/rg-jump/providers/Microsoft.KeyVault/vaults/kv-web1-x`,
        /key vault 'kv-web1-x' is not a resource of stack 'web1'/,
      ],
      [`/subscriptions/${SUB}/resourcegroups/rg-jump`, /a resource group, not a resource of a stack/],
      ["not-an-arm-id", /not an Azure resource id/],
    ];
    for (const [target, reason] of cases) {
      const p = fixture("resource-health-vm");
      essentials(p).alertTargetIDs = [target];
      const { signals, ignored } = match(p);
      assert.equal(signals.length, 0, target);
      assert.match(ignored!.reason, reason, target);
      assert.deepEqual(ignored!.targets, [target]);
    }
  });

  test("the stack's own database is recognised but not healed from alerts", () => {
    const p = fixture("resource-health-vm");
    const names = stackNames(STACKS[0].spec);
    essentials(p).alertTargetIDs = [names.mysqlServerId];
    const reason = match(p).ignored!.reason;
    assert.ok(reason.includes(`MySQL flexible server '${names.mysqlServer}' belongs to stack 'web1'`), reason);
  });

  test("ARM ids match case-insensitively and node names keep Azure's spelling", () => {
    const p = fixture("resource-health-vm");
    essentials(p).alertTargetIDs = [vmId("RG-JUMP", "WEB1-WEB-2").toUpperCase()];
    const [s] = match(p).signals;
    assert.equal(s.stack, "web1");
    assert.equal(s.node, "WEB1-WEB-2");
  });

  test("an alert naming a managed and an unmanaged VM yields a signal for the managed one only", () => {
    const p = fixture("resource-health-vm");
    const unmanaged = vmId("rg-jump", "payroll-db");
    essentials(p).alertTargetIDs = [unmanaged, vmId("rg-jump", "web1-web-1")];
    const { signals, skipped, ignored } = match(p);
    assert.equal(ignored, undefined);
    assert.deepEqual(
      signals.map((s) => [s.stack, s.node]),
      [["web1", "web1-web-1"]],
    );
    assert.deepEqual(
      skipped.map((s) => s.target),
      [unmanaged],
    );
  });

  test("a stack whose teardown runs takes no signals; no registered stack at all ignores everything", () => {
    const tearingDown = [stack("web1", { resourceGroup: "rg-jump" }, { kind: "teardown" })];
    assert.match(match(fixture("resource-health-vm"), tearingDown).ignored!.reason, /stack 'web1' is being torn down/);
    assert.match(match(fixture("resource-health-vm"), []).ignored!.reason, /no registered stack is in subscription/);
    const deploying = [stack("web1", { resourceGroup: "rg-jump" }, { kind: "deploy" })];
    assert.equal(match(fixture("resource-health-vm"), deploying).signals.length, 1);
  });

  test("web VM names follow the fleet mode", () => {
    const [avset, vmss] = STACKS;
    assert.ok(isWebVmName(avset, "web1-web-1"));
    assert.ok(isWebVmName(avset, "WEB1-WEB-12"));
    assert.ok(!isWebVmName(avset, "web1-web-01"));
    assert.ok(!isWebVmName(avset, "web1-web-1x"));
    assert.ok(isWebVmName(vmss, "fleet-vmss_4f1c8a2e"));
    assert.ok(!isWebVmName(vmss, "fleet-vmss_"));
    assert.ok(!isWebVmName(vmss, "fleet-web-1"));
  });
});

describe("hostile and malformed alerts are refused with pointers", () => {
  function errorsOf(payload: unknown) {
    const result = parseAlert(payload);
    assert.ok(!result.ok, "expected the payload to be refused");
    return result.errors;
  }
  function pointers(payload: unknown): string[] {
    return errorsOf(payload).map((e) => e.pointer);
  }

  test("not an object, wrong schemaId, no data", () => {
    for (const value of [null, "alert", 42, [], true]) assert.deepEqual(pointers(value), [""], JSON.stringify(value));
    const p = fixture("metric-lb-dip-fired");
    p.schemaId = "AzureMonitorMetricAlert";
    const [error] = errorsOf(p);
    assert.equal(error.pointer, "/schemaId");
    assert.match(error.detail, /must be "azureMonitorCommonAlertSchema"/);
    assert.deepEqual(pointers({ schemaId: "azureMonitorCommonAlertSchema" }), ["/data"]);
    assert.deepEqual(pointers({ schemaId: "azureMonitorCommonAlertSchema", data: {} }), ["/data/essentials"]);
  });

  test("every required essentials field is enforced", () => {
    for (const field of [
      "alertId",
      "alertRule",
      "severity",
      "signalType",
      "monitorCondition",
      "monitoringService",
      "alertTargetIDs",
      "firedDateTime",
      "essentialsVersion",
      "alertContextVersion",
    ]) {
      const p = fixture("metric-lb-dip-fired");
      delete essentials(p)[field];
      const errors = errorsOf(p);
      assert.deepEqual(
        errors.map((e) => e.pointer),
        [`/data/essentials/${field}`],
        field,
      );
      assert.match(errors[0].detail, /is required$/);
    }
  });

  test("wrong values: condition, severity, empty id, dates, versions", () => {
    const p = fixture("metric-lb-dip-fired");
    Object.assign(essentials(p), {
      monitorCondition: "Active",
      severity: "Critical",
      alertId: "",
      firedDateTime: "yesterday",
      resolvedDateTime: "2026-02-30T10:00:00Z",
      essentialsVersion: "one",
    });
    assert.deepEqual(pointers(p).sort(), [
      "/data/essentials/alertId",
      "/data/essentials/essentialsVersion",
      "/data/essentials/firedDateTime",
      "/data/essentials/monitorCondition",
      "/data/essentials/resolvedDateTime",
      "/data/essentials/severity",
    ]);
  });

  test("targets that are not strings, criteria and dimensions of the wrong shape", () => {
    const p = fixture("metric-lb-dip-fired");
    essentials(p).alertTargetIDs = ["/subscriptions/x", 42, { id: "/subscriptions/y" }];
    const errors = errorsOf(p);
    assert.deepEqual(
      errors.map((e) => e.pointer),
      ["/data/essentials/alertTargetIDs/1", "/data/essentials/alertTargetIDs/2"],
    );
    assert.match(errors[0].detail, /must be string, got a number/);

    const q = fixture("metric-lb-dip-fired");
    criterion(q).dimensions = [{ name: "BackendIPAddress" }, "10.0.0.1"];
    criterion(q).metricValue = { value: 1 };
    assert.deepEqual(pointers(q).sort(), [
      "/data/alertContext/condition/allOf/0/dimensions/0/value",
      "/data/alertContext/condition/allOf/0/dimensions/1",
      "/data/alertContext/condition/allOf/0/metricValue",
    ]);

    const r = fixture("metric-lb-dip-fired");
    ((r.data as Json).alertContext as Json).condition = { windowSize: "PT5M" };
    assert.deepEqual(pointers(r), ["/data/alertContext/condition/allOf"]);
  });

  test("huge arrays are refused at their pointer", () => {
    const p = fixture("metric-lb-dip-fired");
    essentials(p).alertTargetIDs = Array.from({ length: 5000 }, (_, i) => `/subscriptions/${i}`);
    assert.deepEqual(pointers(p), ["/data/essentials/alertTargetIDs"]);
    const q = fixture("metric-lb-dip-fired");
    criterion(q).dimensions = Array.from({ length: ALERT_LIMITS.maxDimensions + 1 }, () => ({ name: "a", value: "b" }));
    const [error] = errorsOf(q);
    assert.equal(error.pointer, "/data/alertContext/condition/allOf/0/dimensions");
    assert.match(error.detail, /at most 64 entries/);
  });

  test("__proto__, constructor and prototype keys are refused wherever they are", () => {
    const text = JSON.stringify(fixture("metric-lb-dip-fired")).replace(
      '"customProperties":null',
      '"customProperties":{"__proto__":{"polluted":true},"x":{"constructor":{"prototype":1}}}',
    );
    const errors = errorsOf(JSON.parse(text));
    assert.deepEqual(
      errors.map((e) => e.pointer),
      ["/data/customProperties/__proto__", "/data/customProperties/x/constructor"],
    );
    assert.equal(({} as Json).polluted, undefined);
  });

  test("deep nesting is refused with the pointer where it goes too deep", () => {
    const p = fixture("metric-lb-dip-fired");
    let deep: unknown = "bottom";
    for (let i = 0; i < 200; i++) deep = [deep];
    (p.data as Json).customProperties = { deep };
    const [error] = errorsOf(p);
    assert.match(error.pointer, /^\/data\/customProperties\/deep(\/0)+$/);
    assert.match(error.detail, /nested deeper than 64 levels/);
  });

  test("at most 20 errors are reported for a body full of them", () => {
    const p = fixture("metric-lb-dip-fired");
    essentials(p).alertTargetIDs = Array.from({ length: 90 }, (_, i) => i);
    assert.equal(errorsOf(p).length, 20);
  });
});

describe("the request body", () => {
  const body = (value: unknown) => Buffer.from(JSON.stringify(value));

  test("a valid notification passes, with a charset parameter too", () => {
    const result = parseAlertBody(body(fixture("resource-health-vm")), "application/json; charset=utf-8");
    assert.ok(result.ok);
    assert.equal(result.alert.family, "resource-health");
  });

  test("415, 413 and 400 problems; an invalid alert names its fields", () => {
    const problem = (raw: string | Buffer, type: string | null) => {
      const result = parseAlertBody(raw, type);
      assert.ok(!result.ok);
      return result.problem;
    };
    assert.equal(problem(body(fixture("resource-health-vm")), "text/plain").status, 415);
    assert.equal(problem(body(fixture("resource-health-vm")), null).status, 415);
    const big = fixture("resource-health-vm");
    (big.data as Json).customProperties = { pad: "x".repeat(ALERT_LIMITS.maxBodyBytes) };
    assert.equal(problem(body(big), "application/json").status, 413);
    assert.equal(problem("{not json", "application/json").status, 400);
    assert.equal(problem("", "application/json").status, 400);
    assert.equal(problem(`{"a":${"[".repeat(100)}${"]".repeat(100)}}`, "application/json").status, 400);
    assert.equal(problem('{"a":1,"a":2}', "application/json").status, 400);

    const invalid = fixture("resource-health-vm");
    delete essentials(invalid).monitorCondition;
    const p = problem(body(invalid), "application/json");
    assert.equal(p.status, 400);
    assert.equal(p.type, "https://jumpgate.dev/problems/invalid-alert");
    assert.deepEqual(p.errors, [
      { pointer: "/data/essentials/monitorCondition", detail: "data.essentials.monitorCondition is required" },
    ]);
  });
});
