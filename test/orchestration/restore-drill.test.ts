// The restore drill orchestration's own logic on the durable test host's replay engine and virtual
// clock, its activities replaced by scripted ones (the real ones run in test/e2e/restore-drill.test.ts
// and test/integration/restore-drill-lro.test.ts): a restore still running is polled every 30 s
// until it is ready; one that never finishes fails the drill at its 2-hour deadline; a node whose
// agent does not answer hands the check to the next; the temporary server is deleted in every case,
// and a cleanup that fails fails the drill and says so. With JUMPGATE_RECORD_DRILL_HISTORIES=1 the
// polled drill's history becomes the replay gate's fixture restoreDrill/polled.
import "../../emulator/durable/install";
import "../../functions/orchestrators/restore-drill";
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  defaultHistoryFixturesDir,
  DurableTestHost,
  formatHistory,
  fromRegistry,
  recordHistoryFixture,
  type InstanceState,
} from "../../emulator/durable";
import type { Activities } from "../../functions/workflow/activity-map";
import { Names } from "../../functions/names";
import { GUACAMOLE_TABLES, type RestoreProgress } from "../../shared/drill/restore-drill";
import type { DrillObserved } from "../../shared/stack-status";
import { validateStackSpec } from "../../shared/spec/validate";

const spec = (() => {
  const r = validateStackSpec({
    name: "orch1",
    subscriptionId: "00000000-0000-0000-0000-000000000001",
    resourceGroup: "rg-orch1",
    location: "westeurope",
  });
  assert.ok(r.ok);
  return r.spec;
})();
const SERVER = "orch1-mysql-0000-drill-abcdef01";
const FQDN = `${SERVER}.mysql.database.azure.com`;

interface Script {
  progress: RestoreProgress[];
  nodes?: string[];
  unreachable?: string[];
  deleteFails?: boolean;
}

async function drill(
  script: Script,
  record?: string,
): Promise<{ state: InstanceState; calls: string[]; at: number[] }> {
  const calls: string[] = [];
  const at: number[] = [];
  const clock = { now: () => 0 };
  const fake = {
    loadAccessTarget: () => ({ spec }),
    listWebNodes: () => (script.nodes ?? ["orch1-web-1"]).map((name) => ({ name, id: `/vm/${name}` })),
    restoreDrillServer: () => ({
      name: SERVER,
      id: `/servers/${SERVER}`,
      sourceServerId: "/servers/live",
      restorePointInTime: "2026-12-07T17:59:00.000Z",
      created: true,
      operation: '{"state":{}}',
    }),
    pollDrillRestore: () => {
      at.push(clock.now());
      return script.progress.length > 1 ? script.progress.shift()! : script.progress[0];
    },
    runNodeAgent: (input: { vmName: string; args?: string[] }) => {
      calls.push(`check ${input.vmName} ${input.args?.join(" ")}`);
      if (script.unreachable?.includes(input.vmName))
        return { vmName: input.vmName, reachable: false, error: "VMAgentStatusCommunicationError" };
      return {
        vmName: input.vmName,
        reachable: true,
        exitCode: 0,
        json: { host: FQDN, user: "guacamole_a", tables: Object.fromEntries(GUACAMOLE_TABLES.map((t) => [t, 1])) },
      };
    },
    deleteDrillServers: () => {
      calls.push("delete");
      if (script.deleteFails) throw new Error("Conflict: an operation is in progress on the server");
      return { deleted: [SERVER] };
    },
    recordDrill: () => {
      calls.push("record");
    },
    appendAudit: (input: { what: string }) => {
      calls.push(`audit ${input.what}`);
    },
  } satisfies Partial<Record<keyof Activities, (input: never) => unknown>>;
  const registry = fromRegistry();
  const host = new DurableTestHost({ ...registry, activities: { ...registry.activities, ...fake } as never });
  clock.now = () => host.now.getTime();
  const state = await host.run(
    Names.orchestrators.restoreDrill,
    { stack: "orch1", trigger: "request" },
    { instanceId: "drill-orch1" },
  );
  assert.equal(state.runtimeStatus, "Completed", formatHistory(state.history));
  if (record && process.env.JUMPGATE_RECORD_DRILL_HISTORIES === "1")
    recordHistoryFixture(host, "drill-orch1", { scenario: record, dir: defaultHistoryFixturesDir() });
  return { state, calls, at };
}

void test("a restore still running is polled every 30 s until ready, then checked, deleted and recorded", async () => {
  const { state, calls, at } = await drill(
    { progress: [{ state: "running" }, { state: "running" }, { state: "ready", fqdn: FQDN }] },
    "polled",
  );
  const out = state.output as DrillObserved;
  assert.equal(out.outcome, "succeeded", JSON.stringify(out));
  assert.deepEqual(
    at.slice(1).map((t, i) => t - at[i]),
    [30_000, 30_000],
  );
  assert.deepEqual(calls, [`check orch1-web-1 --host ${FQDN}`, "delete", "record", "audit restore drill succeeded"]);
});

void test("a restore that never finishes fails the drill at its deadline; the server is still deleted", async () => {
  const { state, calls, at } = await drill({ progress: [{ state: "running" }] });
  const out = state.output as DrillObserved;
  assert.equal(out.outcome, "failed");
  assert.equal(out.failure?.reason, "RestoreFailed");
  assert.match(out.failure.message, /did not finish within 120 minutes/);
  assert.equal(at.length, 240, "every 30 s for 2 hours");
  assert.deepEqual(calls, ["delete", "record", "audit restore drill failed"]);
});

void test("a node whose agent does not answer hands the check to the next", async () => {
  const { state, calls } = await drill({
    progress: [{ state: "ready", fqdn: FQDN }],
    nodes: ["orch1-web-1", "orch1-web-2"],
    unreachable: ["orch1-web-1"],
  });
  assert.equal((state.output as DrillObserved).node, "orch1-web-2");
  assert.deepEqual(calls.slice(0, 2), [`check orch1-web-1 --host ${FQDN}`, `check orch1-web-2 --host ${FQDN}`]);
});

void test("a cleanup that fails fails the drill and says so", async () => {
  const { state, calls } = await drill({ progress: [{ state: "ready", fqdn: FQDN }], deleteFails: true });
  const out = state.output as DrillObserved;
  assert.equal(out.outcome, "failed");
  assert.equal(out.failure?.reason, "CleanupFailed");
  assert.match(out.cleanup.failure ?? "", /an operation is in progress/);
  assert.deepEqual(calls.slice(-2), ["record", "audit restore drill failed"]);
});
