// The restore drill's restore in Azure's asynchronous shapes, through the pinned MySQL client against
// the emulator in `async` LRO mode: the restore is begun (one PUT, answered before the server is
// made) and then polled by resuming its serialized operation, as the drill does between durable
// timers, without a second PUT; a restore whose work fails reads as failed with Azure's message; a
// server at the drill's name that is not the drill's is refused and left alone. The operation's
// serialized state carries no password.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { LOCATION, startAzure, SUB, type AzureFixture } from "../../dev/azure";
import {
  beginRestoreToDrillServer,
  deleteDrillServers,
  drillServerName,
  pollDrillRestore,
  type DrillTarget,
} from "../../shared/drill/restore-drill";
import { stackNames, stackTags } from "../../shared/graph/names";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";

const ADMIN_PASSWORD = "live-Admin-Password-1";

describe("restore drill: a restore begun, then polled (async LRO mode)", () => {
  let az: AzureFixture;
  let spec: StackSpec;
  let failWork: string | undefined;

  before(async () => {
    az = await startAzure({ lro: { mode: "async", pollsBeforeDone: 2 } });
    az.emulator.mysqlRestoreHook = async () => {
      if (failWork) throw new Error(failWork);
    };
    const r = validateStackSpec({ name: "lro1", subscriptionId: SUB, resourceGroup: "rg-lro1", location: LOCATION });
    assert.ok(r.ok);
    spec = r.spec;
    await az.factory.resources(SUB).resourceGroups.createOrUpdate("rg-lro1", { location: LOCATION }, az.factory.call());
    await az.factory.mysql(SUB).servers.beginCreateAndWait(
      "rg-lro1",
      stackNames(spec).mysqlServer,
      {
        location: LOCATION,
        sku: { name: "Standard_B1ms", tier: "Burstable" },
        version: "8.0.21",
        administratorLogin: "jgadmin",
        administratorLoginPassword: ADMIN_PASSWORD,
        tags: stackTags(spec),
      },
      az.factory.lro(),
    );
  });
  after(async () => {
    await az?.stop();
  });

  const target = (startedAt: string): DrillTarget => ({ spec, instanceId: "drill-lro1", startedAt });
  const puts = () => az.emulator.journal.list({ method: "PUT", type: "Microsoft.DBforMySQL/flexibleServers" });

  test("begun, it is polled to ready without a second PUT", async () => {
    const before = puts().length;
    const started = await beginRestoreToDrillServer(az.factory, target("2026-12-07T18:00:00.000Z"));
    assert.equal(started.created, true);
    assert.equal(started.fqdn, undefined, "not made yet when ARM accepted it");
    assert.ok(started.operation, "its operation, to poll");
    assert.ok(!started.operation.includes(ADMIN_PASSWORD));
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      const progress = await pollDrillRestore(az.factory, spec, started);
      seen.push(progress.state);
      if (progress.state !== "running") {
        assert.deepEqual(progress, { state: "ready", fqdn: `${started.name}.mysql.database.azure.com` });
        break;
      }
    }
    assert.equal(seen.at(-1), "ready", seen.join(", "));
    assert.ok(seen.length >= 2, `it was running first: ${seen.join(", ")}`);
    assert.equal(puts().length - before, 1, "one PUT: polling resumes the operation");
    // the same step again (a retried activity) finds the server and makes nothing
    const again = await beginRestoreToDrillServer(az.factory, target("2026-12-07T18:00:00.000Z"));
    assert.deepEqual([again.created, again.name, again.operation], [false, started.name, undefined]);
    assert.deepEqual(await pollDrillRestore(az.factory, spec, again), {
      state: "ready",
      fqdn: `${started.name}.mysql.database.azure.com`,
    });
    assert.equal(puts().length - before, 1);
    assert.deepEqual(await deleteDrillServers(az.factory, { spec, instanceId: "drill-lro1" }), [started.name]);
  });

  test("a restore whose work fails reads as failed, with the message", async () => {
    failWork = "the data could not be copied";
    try {
      const started = await beginRestoreToDrillServer(az.factory, target("2026-12-07T19:00:00.000Z"));
      let progress = await pollDrillRestore(az.factory, spec, started);
      for (let i = 0; i < 10 && progress.state === "running"; i++)
        progress = await pollDrillRestore(az.factory, spec, started);
      assert.equal(progress.state, "failed");
      assert.match(progress.state === "failed" ? progress.message : "", /the data could not be copied/);
    } finally {
      failWork = undefined;
    }
  });

  test("a server at the drill's name that is not the drill's is refused and not deleted", async () => {
    const t = target("2026-12-07T20:00:00.000Z");
    const name = drillServerName(t);
    await az.factory.mysql(SUB).servers.beginCreateAndWait(
      "rg-lro1",
      name,
      {
        location: LOCATION,
        sku: { name: "Standard_B1ms", tier: "Burstable" },
        administratorLogin: "someone",
        administratorLoginPassword: "Someone-else-1",
        tags: { owner: "someone" },
      },
      az.factory.lro(),
    );
    await assert.rejects(
      beginRestoreToDrillServer(az.factory, t),
      /exists that is not this drill's; it was left alone/,
    );
    assert.deepEqual(await deleteDrillServers(az.factory, { spec, instanceId: "drill-lro1" }), []);
    assert.ok(
      az.emulator.store.get(
        `${stackNames(spec).resourceGroupId}/providers/Microsoft.DBforMySQL/flexibleServers/${name}`,
      ),
    );
  });
});
