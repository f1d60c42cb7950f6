// The restore drill's pure parts: the tables it requires are exactly the ones Guacamole's own schema
// creates (the committed 1.6.0 schema file), what it concludes from the agent's answer, the
// temporary server's name, and the monthly timer's spread over a thousand stacks.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { drillCheckOf, drillServerName, GUACAMOLE_TABLES, judgeDrillCheck } from "../../shared/drill/restore-drill";
import { stackNames } from "../../shared/graph/names";
import { restoreDrillDue, RESTORE_DRILL_EVERY_HOURS } from "../../shared/schedule/spread";
import { validateStackSpec } from "../../shared/spec/validate";

const SCHEMA = path.resolve(__dirname, "../../../test/fixtures/guacamole-schema/001-create-schema.sql");

describe("restore drill", () => {
  test("the tables it requires are exactly those Guacamole 1.6.0's schema creates", () => {
    const created = [...fs.readFileSync(SCHEMA, "utf8").matchAll(/CREATE TABLE `?([a-z_]+)`?/gi)].map((m) => m[1]);
    assert.deepEqual([...GUACAMOLE_TABLES].sort(), [...new Set(created)].sort());
  });

  test("the verdict: every table and a user, or which tables are missing", () => {
    const all = Object.fromEntries(GUACAMOLE_TABLES.map((t) => [t, 1]));
    const check = (tables: Record<string, unknown>) =>
      drillCheckOf({ host: "x-drill-1.mysql.database.azure.com", user: "guacamole_a", tables });
    assert.deepEqual(judgeDrillCheck(check(all)!), { ok: true });
    const { guacamole_user_permission: _gone, guacamole_entity: _too, ...partial } = all;
    const missing = judgeDrillCheck(check(partial)!);
    assert.equal(missing.ok, false);
    assert.equal(!missing.ok && missing.reason, "TablesMissing");
    assert.match(
      !missing.ok ? missing.message : "",
      /lacks 2 of Guacamole's 23 tables: guacamole_entity, guacamole_user_permission$/,
    );
    const empty = judgeDrillCheck(check({ ...all, guacamole_user: 0 })!);
    assert.equal(!empty.ok && empty.reason, "NoUsers");
    // what is not an agent's answer is none
    for (const bad of [
      null,
      [],
      "x",
      { host: "h", user: "u" },
      { host: "h", user: "u", tables: { t: -1 } },
      { host: "h", user: "u", tables: { t: "1" } },
    ])
      assert.equal(drillCheckOf(bad), undefined, JSON.stringify(bad));
  });

  test("the temporary server's name: the live server's, per drill, stable for a replayed step, a valid server name", () => {
    const r = validateStackSpec({
      name: "abcdefghijklmno",
      subscriptionId: "00000000-0000-0000-0000-000000000001",
      resourceGroup: "rg-x",
      location: "westeurope",
    });
    assert.ok(r.ok);
    const target = { spec: r.spec, instanceId: "drill-abcdefghijklmno", startedAt: "2026-12-07T18:00:00.000Z" };
    const name = drillServerName(target);
    assert.equal(name, drillServerName({ ...target }), "the same drill makes the same server");
    assert.notEqual(
      name,
      drillServerName({ ...target, startedAt: "2027-01-06T18:00:00.000Z" }),
      "the next drill another",
    );
    assert.ok(name.startsWith(`${stackNames(r.spec).mysqlServer}-drill-`));
    assert.notEqual(name, stackNames(r.spec).mysqlServer);
    assert.match(name, /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, `${name}: 3-63 lowercase letters, digits and hyphens`);
  });

  test("the monthly timer: each stack once in 720 hours, in its own hour; a stack that missed its slot catches up once a day", () => {
    const stacks = Array.from({ length: 1000 }, (_, i) => `s${i}`);
    const start = Date.UTC(2026, 11, 7, 15, 34);
    const recent = new Date(start).toISOString();
    const perHour = new Map<number, number>();
    for (const stack of stacks) {
      const due: number[] = [];
      let last = recent;
      for (let h = 0; h < 2 * RESTORE_DRILL_EVERY_HOURS; h++) {
        const at = new Date(start + h * 3_600_000);
        if (!restoreDrillDue(stack, at, last)) continue;
        due.push(h);
        last = at.toISOString();
      }
      assert.equal(due.length, 2, `${stack}: twice in 1440 hours`);
      assert.equal(due[1] - due[0], RESTORE_DRILL_EVERY_HOURS);
      perHour.set(due[0], (perHour.get(due[0]) ?? 0) + 1);
    }
    assert.ok(
      Math.max(...perHour.values()) <= 12,
      `at most 12 of a thousand stacks in one hour, not all at once: ${Math.max(...perHour.values())}`,
    );
    // last drill 40 days ago: due in its hour of every day until it drills
    const old = new Date(start - 40 * 86_400_000).toISOString();
    const catchUp = Array.from({ length: 48 }, (_, h) => new Date(start + h * 3_600_000)).filter((at) =>
      restoreDrillDue("s1", at, old),
    );
    assert.ok(catchUp.length >= 2 && catchUp.length <= 3, `${catchUp.length} hours in two days`);
  });
});
