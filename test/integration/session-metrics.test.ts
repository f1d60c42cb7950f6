// Scaling on live sessions, end to end on the emulator: a stack that scales on sessions gets, through
// the resource engine, Monitoring Metrics Publisher for each VM's identity scoped to that VM (to the
// scale set in scale-set mode) and scale rules on the custom metric jumpgate/liveSessions; the REAL
// node agent (infra/node/jumpgate-node, as the rendered cloud-init writes it) counts its guacd
// sessions, gets a token of its VM's identity from that VM's IMDS and posts the count to the
// emulator's custom metrics ingestion API, which authorizes it against those role assignments; the
// app's own metrics client then reads the count back. NGINX is real; Tomcat, guacd and the database
// client are stand-ins (node-agent.test.ts covers the agent against a real MariaDB).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { ResourceEngine } from "../../shared/arm/engine";
import { ROLE_DEFINITIONS, stackNames, webNodeNames } from "../../shared/graph/names";
import { topologicalOrder } from "../../shared/graph/order";
import { buildStackGraph } from "../../shared/graph/stack-graph";
import type { StackGraph } from "../../shared/graph/types";
import { parseHealth } from "../../shared/node/agent";
import { renderNodeCloudInit } from "../../shared/node/cloud-init";
import { NODE_PATHS, NODE_PROBE } from "../../shared/node/constants";
import { SCALE_THRESHOLDS } from "../../shared/scale/policy";
import type { StackSpec } from "../../shared/spec/types";
import { validateStackSpec } from "../../shared/spec/validate";
import { LOCATION, startAzure, SUB, type AzureFixture } from "../../dev/azure";
import { startNodeSandbox, type NodeSandbox } from "../../dev/node-sandbox";
import { freePort } from "../../dev/servers/ports";
import { findBinary, type RunResult } from "../../dev/servers/process";

const ACTION_GROUP = `/subscriptions/${SUB}/resourceGroups/rg-jumpgate-app/providers/microsoft.insights/actionGroups/jumpgate-alerts`;
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const HOST = "web.jumpgate.test";

type Doc = Record<string, unknown>;
const at = (doc: unknown, p: string): unknown =>
  p.split(".").reduce<unknown>((cur, k) => (cur && typeof cur === "object" ? (cur as Doc)[k] : undefined), doc);

function specOf(overrides: Record<string, unknown>): StackSpec {
  const r = validateStackSpec({ subscriptionId: SUB, location: LOCATION, ...overrides });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

function graphOf(spec: StackSpec): StackGraph {
  return buildStackGraph(spec, { tenantId: TENANT, renderCustomData: () => "", alertActionGroupId: ACTION_GROUP });
}

function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, timeout: 5_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("GET timed out")));
    req.on("error", reject);
  });
}

describe("live sessions metric: agent → Azure Monitor ingestion → alert rules (emulated Azure, real agent)", () => {
  let az: AzureFixture;
  let engine: ResourceEngine;
  let sandbox: NodeSandbox;
  let workDir: string;
  const sessions = specOf({
    name: "sess1",
    resourceGroup: "rg-sess1",
    fleet: { size: 2 },
    policies: { scale: { enabled: true, metric: "sessions" } },
  });
  const cpu = specOf({
    name: "cpu1",
    resourceGroup: "rg-cpu1",
    fleet: { size: 1, min: 1 },
    policies: { scale: { enabled: true, metric: "cpu" } },
  });
  const scaleSet = specOf({
    name: "sess2",
    resourceGroup: "rg-sess2",
    fleet: { mode: "scaleSet", size: 2 },
    policies: { scale: { enabled: true, metric: "sessions" } },
  });
  /** every stdout/stderr the agent wrote, for the token scan */
  const seen: string[] = [];

  const vmId = (spec: StackSpec, n: number) => webNodeNames(spec, n).vmId;
  /** The agent as the node of `vm`: that VM's IMDS, the emulator as Azure Monitor's regional endpoint. */
  const agentAs = async (vm: string, extra: Record<string, string> = {}): Promise<RunResult> => {
    const r = await sandbox.runAgent(["health", "--update-probe", "--publish-metrics"], {
      env: { JUMPGATE_IMDS_ENDPOINT: az.emulator.imds.endpointFor(vm), ...extra },
    });
    seen.push(r.stdout, r.stderr);
    return r;
  };
  /** The sandbox becomes another VM: forget the cached instance metadata, samples and pause. */
  const forgetMetricsState = () =>
    fs.rmSync(path.join(sandbox.root, "run/jumpgate/metrics"), { recursive: true, force: true });
  const ingestions = () => az.emulator.journal.list().filter((e) => e.operation === "metrics-ingest");
  const metricsLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("jumpgate-node: metrics:"));
  /**
   * liveSessions of a resource as Azure Monitor averages it, over one 15-minute interval that ends
   * a minute after the newest post (its `time`): every post of the test falls in the same interval,
   * however the posts straddle a minute.
   */
  const readSessions = async (resourceId: string): Promise<number[]> => {
    const newest = Date.parse(String((ingestions().at(-1)!.body as Doc).time));
    const end = new Date(newest + 60_000);
    const [result] = await az.factory.metrics(LOCATION).queryResources([resourceId], ["liveSessions"], "jumpgate", {
      startTime: new Date(end.getTime() - 15 * 60_000),
      endTime: end,
      interval: "PT15M",
      aggregation: "Average",
      ...az.factory.call(),
    });
    return (result.metrics[0]?.timeseries ?? [])
      .flatMap((ts) => ts.data ?? [])
      .map((p) => p.average)
      .filter((v): v is number => typeof v === "number");
  };

  before(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-session-metrics-"));
    az = await startAzure({ tenantId: TENANT });
    engine = new ResourceEngine(az.factory, { secretAccessRetry: { attempts: 2, delayMs: 5 } });
    for (const spec of [sessions, cpu, scaleSet]) {
      for (const node of topologicalOrder(graphOf(spec).nodes)) await engine.apply(node);
    }

    // a healthy web node: real NGINX with the bootstrap certificate, stand-ins for Tomcat and guacd,
    // and for the database client (it accepts the login guacamole.properties names)
    const mysql = path.join(workDir, "mysql");
    fs.writeFileSync(
      mysql,
      "#!/usr/bin/env bash\n# Stand-in for the database client: a MariaDB client whose every login works.\n" +
        "if [[ ${1:-} == --version ]]; then echo 'mysql  Ver 15.1 Distrib 10.11.6-MariaDB'; exit 0; fi\ncat >/dev/null\n",
      { mode: 0o755 },
    );
    const document = renderNodeCloudInit({
      stackName: "sess1",
      fleetMode: "availabilitySet",
      publicHostname: HOST,
      keyVaultUrl: "https://kv-sess1.vault.azure.net/",
      dbHost: "127.0.0.1",
    });
    sandbox = await startNodeSandbox(path.join(workDir, "node"), document, {
      env: {
        JUMPGATE_CA_FILE: az.emulator.caPath,
        JUMPGATE_MYSQL: mysql,
        // Azure Monitor's regional endpoint is the emulator; the region stays in the path, checked there
        JUMPGATE_METRICS_ENDPOINT: `${az.emulator.url}/_region/{region}`,
        // post at every run (on a VM: once a minute)
        JUMPGATE_METRICS_INTERVAL: "0",
      },
    });
    // startNodeSandbox put its own JUMPGATE_MYSQL (the real client) last: this sandbox uses the stand-in
    sandbox.env.JUMPGATE_MYSQL = mysql;
    fs.appendFileSync(
      path.join(sandbox.root, NODE_PATHS.guacamoleProperties),
      "mysql-username: guacamole_a\nmysql-password: stand-in-login\n",
    );
  });

  after(async () => {
    await sandbox?.stop();
    await az?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test("a sessions stack on the emulator: a publisher role per VM on that VM, a rule pair per VM; a second apply writes nothing", async () => {
    const graph = graphOf(sessions);
    const store = az.emulator.store;
    const publishers = store
      .all()
      .filter(
        (d) =>
          d.id.toLowerCase().startsWith(stackNames(sessions).resourceGroupId.toLowerCase() + "/") &&
          /\/providers\/Microsoft\.Authorization\/roleAssignments\//i.test(d.id) &&
          String(at(d, "properties.roleDefinitionId")).endsWith(ROLE_DEFINITIONS.monitoringMetricsPublisher),
      );
    assert.deepEqual(
      publishers.map((d) => String(at(d, "properties.scope")).toLowerCase()).sort(),
      [vmId(sessions, 1), vmId(sessions, 2)].map((id) => id.toLowerCase()).sort(),
      "one assignment per VM, on the VM",
    );
    for (const n of [1, 2]) {
      const vm = az.emulator.get(vmId(sessions, n))!;
      const ra = publishers.find((d) => String(at(d, "properties.scope")).toLowerCase() === vm.id.toLowerCase())!;
      assert.equal(at(ra, "properties.principalId"), at(vm, "identity.principalId"), "for that VM's own identity");
    }

    const rules = store.all().filter((d) => /\/metricAlerts\/sess1-web-\d-scale-(out|in)$/i.test(d.id));
    assert.deepEqual(rules.map((d) => d.name).sort(), [
      "sess1-web-1-scale-in",
      "sess1-web-1-scale-out",
      "sess1-web-2-scale-in",
      "sess1-web-2-scale-out",
    ]);
    const out = rules.find((d) => d.name === "sess1-web-1-scale-out")!;
    assert.deepEqual(at(out, "properties.scopes"), [vmId(sessions, 1)]);
    const [criterion] = at(out, "properties.criteria.allOf") as Doc[];
    assert.deepEqual(
      [criterion.metricNamespace, criterion.metricName, criterion.operator, criterion.threshold],
      ["jumpgate", "liveSessions", "GreaterThan", SCALE_THRESHOLDS.sessions.out],
    );
    assert.equal(criterion.skipMetricValidation, true);

    // a second apply writes nothing
    const before = az.emulator.journal.list().length;
    const plans = await Promise.all(graph.nodes.map((n) => engine.plan(n)));
    assert.deepEqual(
      plans.filter((p) => p.action !== "none").map((p) => `${p.key}: ${p.action}`),
      [],
    );
    const writes = az.emulator.journal
      .list()
      .slice(before)
      .filter((e) => e.method !== "GET");
    assert.deepEqual(
      writes.map((e) => `${e.method} ${e.path}`),
      [],
    );
  });

  test("a CPU-scaled stack has no publisher role and no sessions rule; Azure refuses a multi-resource rule on a custom metric", async () => {
    const rgCpu = stackNames(cpu).resourceGroupId.toLowerCase();
    const cpuDocs = az.emulator.store.all().filter((d) => d.id.toLowerCase().startsWith(rgCpu + "/"));
    assert.ok(cpuDocs.length > 10, "the CPU stack was applied");
    assert.ok(
      !cpuDocs.some((d) =>
        String(at(d, "properties.roleDefinitionId")).endsWith(ROLE_DEFINITIONS.monitoringMetricsPublisher),
      ),
    );
    const cpuOut = az.emulator.get(`${rgCpu}/providers/Microsoft.Insights/metricAlerts/cpu1-scale-out`)!;
    assert.equal((at(cpuOut, "properties.criteria.allOf") as Doc[])[0].metricName, "Percentage CPU");

    // why an availability set gets one rule pair per VM: the multi-resource form is refused
    const multi = structuredClone(graphOf(cpu).nodes.find((n) => n.key === "alert:scale-out")!);
    const criteria = at(multi.body, "properties.criteria.allOf") as Doc[];
    Object.assign(criteria[0], { metricName: "liveSessions", metricNamespace: "jumpgate", skipMetricValidation: true });
    await assert.rejects(
      az.factory.resources(SUB).resources.beginCreateOrUpdateByIdAndWait(multi.id, multi.apiVersion, multi.body),
      /platform metrics of Microsoft\.Compute\/virtualMachines only/,
    );
  });

  test("the real agent with 3 open sessions publishes liveSessions=3 about its VM; the app's metrics client reads 3", async () => {
    for (let i = 0; i < 3; i++) await sandbox.guacd.openSession();
    try {
      const r = await agentAs(vmId(sessions, 1));
      assert.equal(r.code, 0, r.stderr);
      const health = parseHealth(r.stdout);
      assert.deepEqual([health.healthy, health.liveSessions], [true, 3]);
      assert.deepEqual(metricsLines(r.stderr), [], "a post that works is silent");

      const [post] = ingestions();
      assert.equal(post.status, 200);
      assert.equal(post.path, `/_region/${LOCATION}${vmId(sessions, 1)}/metrics`, "the VM's region and resource id");
      assert.deepEqual(post.body, {
        time: (post.body as Doc).time,
        data: {
          baseData: {
            metric: "liveSessions",
            namespace: "jumpgate",
            dimNames: [],
            series: [{ dimValues: [], min: 3, max: 3, sum: 3, count: 1 }],
          },
        },
      });
      assert.match(String((post.body as Doc).time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      assert.deepEqual(await readSessions(vmId(sessions, 1)), [3]);

      // the probe file was written as always
      const probe = await httpGet(sandbox.ports.probe, NODE_PROBE.path);
      assert.equal(probe.status, 200);
      assert.equal((JSON.parse(probe.body) as { liveSessions: number }).liveSessions, 3);
    } finally {
      sandbox.guacd.closeSessions();
    }
  });

  test("between posts the samples are kept and posted as min/max/sum/count", async () => {
    const vm = vmId(sessions, 2);
    forgetMetricsState();
    const posts = ingestions().length;
    const hourly = { JUMPGATE_METRICS_INTERVAL: "3600" };
    await sandbox.guacd.openSession();
    assert.equal((await agentAs(vm, hourly)).code, 0);
    await sandbox.guacd.openSession();
    await sandbox.guacd.openSession();
    assert.equal((await agentAs(vm, hourly)).code, 0);
    assert.equal(ingestions().length, posts, "no post before the interval has passed");
    sandbox.guacd.closeSessions();
    await sandbox.guacd.openSession();
    await sandbox.guacd.openSession();
    const r = await agentAs(vm);
    sandbox.guacd.closeSessions();
    assert.equal(r.code, 0, r.stderr);
    const sent = ingestions().slice(posts);
    assert.equal(sent.length, 1);
    assert.deepEqual(at(sent[0].body, "data.baseData.series"), [{ dimValues: [], min: 1, max: 3, sum: 6, count: 3 }]);
    assert.deepEqual(await readSessions(vm), [2], "Azure's average: sum / count");
  });

  test("Azure Monitor down: the probe file is still right and health keeps its own exit status", async () => {
    forgetMetricsState();
    const closed = `https://127.0.0.1:${await freePort()}`;
    const down = { JUMPGATE_METRICS_ENDPOINT: closed };
    const healthy = await agentAs(vmId(sessions, 1), down);
    assert.equal(healthy.code, 0, "a failed post does not fail the check");
    assert.equal(parseHealth(healthy.stdout).healthy, true);
    assert.deepEqual(metricsLines(healthy.stderr).length, 1, healthy.stderr);
    assert.match(metricsLines(healthy.stderr)[0], /Azure Monitor at https:\/\/127\.0\.0\.1:\d+ did not answer/);
    assert.equal((await httpGet(sandbox.ports.probe, NODE_PROBE.path)).status, 200);

    // an unhealthy node stays out of rotation, and its exit status stays 1
    const unhealthy = await agentAs(vmId(sessions, 1), { ...down, JUMPGATE_TOMCAT_URL: "http://127.0.0.1:9" });
    assert.equal(unhealthy.code, 1);
    assert.equal(parseHealth(unhealthy.stdout).tomcat, false);
    assert.equal((await httpGet(sandbox.ports.probe, NODE_PROBE.path)).status, 503);
    assert.ok(!fs.existsSync(path.join(sandbox.root, NODE_PATHS.probeFile)));

    // IMDS down as well: still one line, still the health answer
    forgetMetricsState();
    const noImds = await sandbox.runAgent(["health", "--update-probe", "--publish-metrics"], {
      env: { JUMPGATE_IMDS_ENDPOINT: closed },
    });
    seen.push(noImds.stdout, noImds.stderr);
    assert.equal(noImds.code, 0);
    assert.equal((await httpGet(sandbox.ports.probe, NODE_PROBE.path)).status, 200);
  });

  test("without the role (a CPU stack's VM) Azure Monitor answers 403: logged once, posting pauses, the probe is unaffected", async () => {
    forgetMetricsState();
    const vm = vmId(cpu, 1);
    const posts = ingestions().length;
    const first = await agentAs(vm);
    assert.equal(first.code, 0);
    const [line] = metricsLines(first.stderr);
    assert.match(line, /refused liveSessions .*HTTP 403 AuthorizationFailed.*Monitoring Metrics Publisher/);
    assert.equal(ingestions().slice(posts)[0].status, 403);
    assert.deepEqual(az.emulator.metrics.customValues(vm, "jumpgate", "liveSessions"), []);

    const second = await agentAs(vm);
    assert.equal(second.code, 0);
    assert.deepEqual(metricsLines(second.stderr), [], "the denial is logged once");
    assert.equal(ingestions().length, posts + 1, "no post while paused");
    assert.equal((await httpGet(sandbox.ports.probe, NODE_PROBE.path)).status, 200);
  });

  test("a scale set's instances publish about the scale set with their name as VMName; its rule sees the average", async () => {
    const names = stackNames(scaleSet);
    const instances = az.emulator.store
      .all()
      .filter(
        (d) => String(at(d, "properties.virtualMachineScaleSet.id")).toLowerCase() === names.scaleSetId.toLowerCase(),
      );
    assert.equal(instances.length, 2);
    const ra = az.emulator.store
      .all()
      .find(
        (d) =>
          String(at(d, "properties.roleDefinitionId")).endsWith(ROLE_DEFINITIONS.monitoringMetricsPublisher) &&
          String(at(d, "properties.scope")).toLowerCase() === names.scaleSetId.toLowerCase(),
      );
    // the role names the scale set's user-assigned identity, whose tokens its instances get
    const identity = az.emulator.get(names.webIdentityId)!;
    assert.equal(at(ra, "properties.principalId"), at(identity, "properties.principalId"));
    assert.equal(at(az.emulator.get(names.scaleSetId), "identity.type"), "UserAssigned");
    const rule = az.emulator.get(`${names.resourceGroupId}/providers/Microsoft.Insights/metricAlerts/sess2-scale-out`)!;
    assert.deepEqual(at(rule, "properties.scopes"), [names.scaleSetId]);

    for (const [instance, open] of [
      [instances[0], 2],
      [instances[1], 4],
    ] as const) {
      forgetMetricsState();
      for (let i = 0; i < open; i++) await sandbox.guacd.openSession();
      // the first names its identity to IMDS as node.env does on a scale set; the second leaves it
      // to IMDS, which picks the only identity the instance has
      const r = await agentAs(instance.id, open === 2 ? { JUMPGATE_IDENTITY_RESOURCE_ID: names.webIdentityId } : {});
      sandbox.guacd.closeSessions();
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(metricsLines(r.stderr), []);
      const post = ingestions().at(-1)!;
      assert.equal(post.path, `/_region/${LOCATION}${names.scaleSetId}/metrics`);
      assert.deepEqual(at(post.body, "data.baseData.dimNames"), ["VMName"]);
      assert.deepEqual(at(post.body, "data.baseData.series"), [
        { dimValues: [instance.name], min: open, max: open, sum: open, count: 1 },
      ]);
    }
    assert.deepEqual(await readSessions(names.scaleSetId), [3], "(2 + 4) / 2 per node");
    // the agent does send the identity it is told: one the instance does not have gets no token
    forgetMetricsState();
    const before = ingestions().length;
    const wrong = await agentAs(instances[0].id, {
      JUMPGATE_IDENTITY_RESOURCE_ID: names.webIdentityId.replace(/-web-id$/, "-other-id"),
    });
    assert.equal(wrong.code, 0, wrong.stderr);
    assert.match(metricsLines(wrong.stderr).join("\n"), /managed identity endpoint answered HTTP 400/);
    assert.equal(ingestions().length, before);
  });

  test("the access token stays off command lines and out of every output", async () => {
    const shims = path.join(workDir, "shims");
    const argvLog = path.join(workDir, "argv.log");
    fs.mkdirSync(shims, { recursive: true });
    for (const program of ["curl", "jq", "awk", "cat"]) {
      fs.writeFileSync(
        path.join(shims, program),
        // one write per call (O_APPEND keeps it whole): curl and jq run at once in a pipeline
        `#!/bin/bash\nline=$(printf '%s\\x1f' "\${0##*/}" "$@")\nprintf '%s\\n' "$line" >>'${argvLog}'\nexec '${findBinary(program)}' "$@"\n`,
        { mode: 0o755 },
      );
    }
    forgetMetricsState();
    const posts = ingestions().length;
    const r = await agentAs(vmId(sessions, 1), { PATH: `${shims}:${sandbox.env.PATH}` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(ingestions().length, posts + 1);
    const argv = fs.readFileSync(argvLog, "utf8");
    assert.ok(
      argv.split("\n").some((l) => l.startsWith("curl\x1f--config\x1f-\x1f")),
      "the post reads its header from stdin",
    );
    assert.doesNotMatch(argv, /Bearer|emulator-imds\./);
    for (const output of seen) assert.doesNotMatch(output, /emulator-imds\.|Bearer/);
  });
});

describe("the emulator's custom metrics ingestion and per-VM IMDS, as documented", () => {
  let az: AzureFixture;
  let engine: ResourceEngine;
  const spec = specOf({
    name: "ingest1",
    resourceGroup: "rg-ingest1",
    fleet: { size: 1, min: 1 },
    policies: { scale: { enabled: true, metric: "sessions" } },
  });
  const vm = webNodeNames(spec, 1).vmId;

  const request = (
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; body: Doc }> =>
    new Promise((resolve, reject) => {
      const req = https.request(url, { method, ca: az.emulator.caPem, headers, timeout: 5_000 }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Doc) : {} }));
      });
      req.on("error", reject);
      req.end(body);
    });
  const token = async (imds: string, resource = "https://monitoring.azure.com/") => {
    const r = await request(
      "GET",
      `${imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}`,
      { Metadata: "true" },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return String(r.body.access_token);
  };
  const document = (overrides: Doc = {}, baseData: Doc = {}) =>
    JSON.stringify({
      time: new Date().toISOString(),
      data: {
        baseData: {
          metric: "liveSessions",
          namespace: "jumpgate",
          dimNames: [],
          series: [{ dimValues: [], min: 1, max: 1, sum: 1, count: 1 }],
          ...baseData,
        },
      },
      ...overrides,
    });
  const post = (resourceId: string, bearer: string | undefined, body: string, region = LOCATION) =>
    request(
      "POST",
      `${az.emulator.url}/_region/${region}${resourceId}/metrics`,
      { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body,
    );

  before(async () => {
    az = await startAzure({ tenantId: TENANT });
    engine = new ResourceEngine(az.factory, { secretAccessRetry: { attempts: 2, delayMs: 5 } });
    for (const node of topologicalOrder(graphOf(spec).nodes)) await engine.apply(node);
  });
  after(async () => {
    await az?.stop();
  });

  test("a VM's IMDS serves its instance metadata, with the Metadata header only", async () => {
    const imds = az.emulator.imds.endpointFor(vm);
    const url = `${imds}/metadata/instance?api-version=2021-02-01`;
    assert.equal((await request("GET", url, {})).status, 400);
    assert.equal((await request("GET", `${imds}/metadata/instance`, { Metadata: "true" })).status, 400);
    const r = await request("GET", url, { Metadata: "true" });
    assert.equal(r.status, 200);
    assert.deepEqual(
      [at(r.body, "compute.resourceId"), at(r.body, "compute.location"), at(r.body, "compute.name")],
      [vm, LOCATION, webNodeNames(spec, 1).vm],
    );
    assert.equal(at(r.body, "compute.vmScaleSetName"), "");
    const gone = az.emulator.imds.endpointFor(vm.replace(/web-1$/, "web-9"));
    assert.equal(
      (await request("GET", `${gone}/metadata/instance?api-version=2021-02-01`, { Metadata: "true" })).status,
      404,
    );
    assert.equal(
      (await request("GET", `${az.emulator.url}/metadata/instance?api-version=2021-02-01`, { Metadata: "true" }))
        .status,
      404,
      "the anonymous endpoint is no VM",
    );
  });

  test("authentication and authorization: 401 without a usable token, 403 without the role on the resource", async () => {
    const imds = az.emulator.imds.endpointFor(vm);
    const ok = await token(imds);
    assert.equal((await post(vm, undefined, document())).status, 401);
    assert.equal((await post(vm, "made-up-token", document())).status, 401);
    const vault = await post(vm, await token(imds, "https://vault.azure.net"), document());
    assert.deepEqual([vault.status, at(vault.body, "error.code")], [401, "InvalidAuthenticationTokenAudience"]);
    const anonymous = await post(vm, await token(az.emulator.url), document());
    assert.deepEqual([anonymous.status, at(anonymous.body, "error.code")], [403, "AuthorizationFailed"]);
    // the role is on the VM: the NIC next to it is out of scope
    const nic = await post(webNodeNames(spec, 1).nicId, ok, document());
    assert.deepEqual([nic.status, at(nic.body, "error.code")], [403, "AuthorizationFailed"]);
    assert.equal((await post(`${vm}/extensions/missing`, ok, document())).status, 404);
    assert.equal((await post(vm, ok, document())).status, 200);
  });

  test("the body: time within 20 minutes back and 5 ahead, metric and namespace, dimensions matched, numeric series", async () => {
    const ok = await token(az.emulator.imds.endpointFor(vm));
    const kept = () => az.emulator.metrics.customValues(vm, "jumpgate", "liveSessions");
    const before = kept().length;
    const refused = async (body: string, region = LOCATION) => {
      const r = await post(vm, ok, body, region);
      assert.equal(r.status, 400, body);
      return String(at(r.body, "error.message"));
    };
    assert.match(await refused(document(), "eastus"), /westeurope/);
    await refused("not json");
    await refused(document({ time: new Date(Date.now() - 21 * 60_000).toISOString() }));
    await refused(document({ time: new Date(Date.now() + 6 * 60_000).toISOString() }));
    await refused(document({ time: "yesterday" }));
    await refused(document({}, { metric: "" }));
    await refused(document({}, { namespace: undefined }));
    await refused(document({}, { series: [] }));
    await refused(document({}, { dimNames: ["VMName"] }));
    await refused(document({}, { series: [{ dimValues: [], min: 1, max: 1, sum: 1, count: 0 }] }));
    await refused(document({}, { series: [{ dimValues: [], min: "1", max: 1, sum: 1, count: 1 }] }));
    await refused(document({}, { dimNames: Array.from({ length: 11 }, (_, i) => `d${i}`) }));
    assert.equal(kept().length, before, "nothing refused is kept");

    const accepted = await post(
      vm,
      ok,
      document({}, { dimNames: ["VMName"], series: [{ dimValues: ["a"], min: 1, max: 5, sum: 9, count: 3 }] }),
    );
    assert.equal(accepted.status, 200);
    const stored = kept().at(-1)!;
    assert.deepEqual(
      [stored.dimensions, stored.min, stored.max, stored.sum, stored.count],
      [{ VMName: "a" }, 1, 5, 9, 3],
    );
  });
});
