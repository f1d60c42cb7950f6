// What can be checked of infra/ without the Bicep compiler: every parameter is used and every module
// gets exactly the parameters it declares; the Function App's settings are the ones the code reads
// (shared/config.ts, the same list as local.settings.sample.json) with identity-based storage; the
// operator role lists exactly the ARM actions the code's SDK calls and resource graph need; the
// role-assignment condition allows exactly the roles the graph grants; the alert wiring names the
// real route and function; and the deployment package builds from what .funcignore keeps.
import "../../emulator/durable/install";
import "../../functions";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { fromRegistry } from "../../emulator/durable";
import { Names } from "../../functions/names";
import { redirectUri } from "../../shared/access/sign-in";
import { ACTION_GROUPS_APP_ID } from "../../shared/alerts/entra-token";
import { HOST_SETTINGS, SETTINGS, type SettingSpec } from "../../shared/config";
import { ROLE_DEFINITIONS } from "../../shared/graph/names";
import { buildStackGraph, type StackGraphContext } from "../../shared/graph/stack-graph";
import type { GraphNode } from "../../shared/graph/types";
import { validateStackSpec } from "../../shared/spec/validate";
import {
  LINKED_GRANTS,
  RESOURCE_SCOPED_GRANTS,
  RESOURCE_TYPE_GRANTS,
  SDK_OPERATION_GRANTS,
} from "../support/azure-permissions";

const ROOT = path.resolve(__dirname, "../../..");
const INFRA = path.join(ROOT, "infra");
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), "utf8");

function bicepFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== "node") walk(p);
      else if (e.name.endsWith(".bicep")) out.push(path.relative(ROOT, p));
    }
  };
  walk(INFRA);
  return out.sort();
}

/** Bicep source without comments (strings may hold `//`: only whole-line and trailing `// ` comments go). */
function code(file: string): string {
  return read(file)
    .split("\n")
    .map((l) => l.replace(/^\s*\/\/.*$/, "").replace(/\s\/\/\s.*$/, ""))
    .join("\n");
}

interface Param {
  name: string;
  hasDefault: boolean;
  generated: boolean;
}

function paramsOf(file: string): Param[] {
  const src = read(file);
  return [...src.matchAll(/^param (\w+) \w+( =)?/gm)].map((m) => {
    const before = src
      .slice(0, m.index)
      .split(/\n(?=\S)/)
      .slice(-4)
      .join("\n");
    return { name: m[1], hasDefault: m[2] !== undefined, generated: /type: 'generate'/.test(before) };
  });
}

/** The text between the brace that opens at `from` and its match. */
function block(src: string, from: number): string {
  const open = src.indexOf("{", from);
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === "{") depth++;
    else if (src[i] === "}" && --depth === 0) return src.slice(open + 1, i);
  }
  throw new Error(`unbalanced braces after offset ${from}`);
}

/** Top-level keys of an object literal's body (one key per line, as Bicep writes them). */
function keysOf(body: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (const line of body.split("\n")) {
    const m = /^\s*'?([\w$-]+)'?\s*:/.exec(line);
    if (depth === 0 && m) keys.push(m[1]);
    depth += (line.match(/[{[]/g) ?? []).length - (line.match(/[}\]]/g) ?? []).length;
  }
  return keys;
}

function appSettings(): Map<string, string> {
  const src = code("infra/app/function-app.bicep");
  const at = src.indexOf("var appSettings = {");
  assert.ok(at >= 0, "function-app.bicep declares var appSettings");
  const body = block(src, at);
  const out = new Map<string, string>();
  for (const line of body.split("\n")) {
    const m = /^\s*(\w+):\s*(.+)$/.exec(line);
    if (m) out.set(m[1], m[2].trim());
  }
  return out;
}

/** Settings the code reads that Azure leaves unset on purpose. */
const LEFT_UNSET_IN_AZURE: Record<string, string> = {
  // the Functions host reads it too, and would take an empty value for a URI
  AzureWebJobsStorage__tableServiceUri: "derived from AzureWebJobsStorage__accountName",
};

/** Set in Azure by the infra for the Functions platform or the Azure SDK, never read by our code. */
const PLATFORM_SETTINGS: Record<string, string> = {
  AZURE_CLIENT_ID: "DefaultAzureCredential picks the user-assigned identity",
  APPLICATIONINSIGHTS_CONNECTION_STRING: "telemetry",
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "telemetry over Entra ID (local auth is off)",
  AzureWebJobsSecretStorageType: "function keys live in Key Vault",
  AzureWebJobsSecretStorageKeyVaultUri: "that vault",
  AzureWebJobsSecretStorageKeyVaultClientId: "the identity the host reads it with",
};

describe("infra: parameters and modules", () => {
  test("every parameter of every Bicep file is used", () => {
    const files = bicepFiles();
    assert.ok(files.includes("infra/main.bicep") && files.length >= 4, files.join(", "));
    for (const file of files) {
      const src = code(file);
      for (const p of paramsOf(file)) {
        const uses = [...src.matchAll(new RegExp(`(?<![\\w.'])${p.name}\\b`, "g"))].length;
        assert.ok(uses >= 2, `${file}: param ${p.name} is declared but never used`);
      }
    }
  });

  test("every module gets exactly the parameters it declares, and all it needs", () => {
    let modules = 0;
    for (const file of bicepFiles()) {
      const src = code(file);
      for (const m of src.matchAll(/^module \w+ '([^']+)'/gm)) {
        modules++;
        const target = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), m[1]));
        const declared = paramsOf(target);
        const paramsAt = src.indexOf("params:", m.index);
        const passed = keysOf(block(src, paramsAt));
        for (const key of passed)
          assert.ok(
            declared.some((d) => d.name === key),
            `${file} passes ${key} to ${target}, which has no such param`,
          );
        for (const d of declared.filter((d) => !d.hasDefault))
          assert.ok(passed.includes(d.name), `${file} does not pass ${d.name} to ${target}`);
      }
    }
    assert.ok(modules >= 4, `found ${modules} modules`);
  });

  test("main.parameters.json sets only main.bicep's parameters and every one azd must supply", () => {
    const file = JSON.parse(read("infra/main.parameters.json")) as { parameters: Record<string, unknown> };
    const params = paramsOf("infra/main.bicep");
    for (const key of Object.keys(file.parameters))
      assert.ok(
        params.some((p) => p.name === key),
        `main.parameters.json sets ${key}, not a param of main.bicep`,
      );
    for (const p of params.filter((p) => !p.hasDefault && !p.generated))
      assert.ok(p.name in file.parameters, `main.parameters.json must supply ${p.name}`);
    const key = params.find((p) => p.name === "alertsFunctionKey");
    assert.ok(key?.generated, "azd generates the alerts function key");
    assert.match(read("infra/main.bicep"), /@secure\(\)\n(@[^\n]+\n)*param alertsFunctionKey/);
  });

  test("azure.yaml deploys this project as a Flex Consumption function app from infra/main.bicep", () => {
    const yaml = read("azure.yaml");
    assert.match(yaml, /^infra:\n {2}provider: bicep\n {2}path: infra\n {2}module: main$/m);
    assert.match(yaml, /^services:\n {2}api:\n {4}project: \.\n {4}language: ts\n {4}host: function$/m);
    // the service name azd deploys to is the tag on the site
    assert.match(read("infra/app/function-app.bicep"), /'azd-service-name': 'api'/);
    const site = code("infra/app/function-app.bicep");
    assert.match(site, /sku: \{ name: 'FC1', tier: 'FlexConsumption' \}/);
    assert.match(site, /runtime: \{\n\s+name: 'node'\n\s+version: '22'\n\s+\}/);
  });
});

describe("infra: app settings", () => {
  const settings = appSettings();
  const specs: SettingSpec[] = Object.values(SETTINGS);

  test("every setting the code reads is set, with identity-based storage instead of a connection string", () => {
    for (const s of specs) {
      if (s.name === SETTINGS.storage.name || s.name in LEFT_UNSET_IN_AZURE) continue;
      assert.ok(settings.has(s.name), `infra sets ${s.name} (${s.description})`);
    }
    assert.ok(!settings.has(SETTINGS.storage.name), "no storage connection string in Azure");
    assert.equal(settings.get("AzureWebJobsStorage__credential"), "'managedidentity'");
    assert.equal(settings.get("AzureWebJobsStorage__accountName"), "storage.name");
    assert.equal(settings.get("AzureWebJobsStorage__clientId"), "identity.properties.clientId");
    assert.doesNotMatch(code("infra/app/function-app.bicep"), /listKeys|AccountKey=|connectionString:/i);
  });

  test("nothing else is set but what the platform reads, and the host's own settings go where Flex takes them", () => {
    const known = new Set([...specs.map((s) => s.name), ...Object.keys(PLATFORM_SETTINGS)]);
    for (const name of settings.keys()) assert.ok(known.has(name), `infra sets ${name}, which nothing reads`);
    for (const name of Object.keys(LEFT_UNSET_IN_AZURE)) {
      assert.ok(
        specs.some((s) => s.name === name),
        `${name} is a setting the code reads`,
      );
      assert.ok(!settings.has(name), `${name} stays unset in Azure`);
    }
    for (const name of Object.keys(PLATFORM_SETTINGS)) assert.ok(settings.has(name), `infra sets ${name}`);
    // Flex Consumption refuses FUNCTIONS_WORKER_RUNTIME as a setting: functionAppConfig.runtime says it
    for (const host of HOST_SETTINGS) assert.ok(!settings.has(host.name), `${host.name} is not an app setting on Flex`);
    assert.equal(HOST_SETTINGS.find((h) => h.name === "FUNCTIONS_WORKER_RUNTIME")?.sample, "node");
  });

  test("literal values are the code's defaults (the sample's values), so Azure runs what the tests run", () => {
    for (const s of specs) {
      const value = settings.get(s.name);
      if (value === undefined || !/^'[^']*'$/.test(value) || value.includes("${")) continue;
      const literal = value.slice(1, -1);
      if (literal === "") assert.equal(s.default, undefined, `${s.name} is empty in infra but has a default`);
      else if (s.default !== undefined)
        assert.equal(literal, s.default, `${s.name}: infra says ${literal}, the code's default is ${s.default}`);
    }
    assert.equal(settings.get("JUMPGATE_TENANT_ID"), "tenant().tenantId");
    assert.equal(settings.get("JUMPGATE_FUNCTION_PRINCIPAL_ID"), "identity.properties.principalId");
    assert.equal(settings.get("JUMPGATE_ALERT_ACTION_GROUP_ID"), "alerts.id");
    assert.equal(settings.get("JUMPGATE_AZURE_CREDENTIAL"), "'default'");
  });
});

// ---- the operator role ----

const SUB = "00000000-0000-0000-0000-0000000000aa";
const FUNCTION_PRINCIPAL = "11111111-2222-3333-4444-555555555555";
/** stands for main.bicep's `recordingWriter` (a guid() of the environment, so not a constant) */
const RECORDING_WRITER = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/** every role the graphs grant: the built-in ones, and the recording writer */
const GRANTED_ROLES = [...new Set([...Object.values(ROLE_DEFINITIONS), RECORDING_WRITER])].sort();
const ctx: StackGraphContext = {
  recordingWriterRoleId: RECORDING_WRITER,
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  renderCustomData: (vm) => Buffer.from(`#cloud-config\n# ${vm.name}\n`).toString("base64"),
  functionPrincipalId: FUNCTION_PRINCIPAL,
  alertActionGroupId: `/subscriptions/${SUB}/resourceGroups/rg-jg/providers/Microsoft.Insights/actionGroups/ag-jumpgate`,
};

/** Graphs of every shape a stack can take. */
function graphs(): GraphNode[][] {
  const shapes = [
    { fleet: { mode: "availabilitySet", size: 2 } },
    { fleet: { mode: "scaleSet", size: 2 }, policies: { scale: { enabled: true } } },
    { fleet: { mode: "scaleSet", size: 2 }, policies: { scale: { enabled: true, metric: "sessions" } } },
    { fleet: { mode: "availabilitySet", size: 2 }, policies: { scale: { enabled: true, metric: "sessions" } } },
    { fleet: { mode: "availabilitySet", size: 2 }, recordings: {}, nodeImage: { enabled: true } },
    { fleet: { mode: "scaleSet", size: 2 }, recordings: { immutability: "locked" } },
  ];
  return shapes.map((shape) => {
    const r = validateStackSpec({
      name: "perm",
      subscriptionId: SUB,
      resourceGroup: "rg-perm",
      location: "westeurope",
      ...shape,
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return buildStackGraph(r.spec, ctx).nodes;
  });
}

/** "Microsoft.Network/virtualNetworks" from a resource id; resource groups are subscription children. */
function armType(id: string): string {
  const p = id.split("/").filter(Boolean);
  const at = p.map((s) => s.toLowerCase()).lastIndexOf("providers");
  if (at < 0) return "Microsoft.Resources/subscriptions/resourceGroups";
  const rest = p.slice(at + 1);
  const types = rest.slice(1).filter((_, i) => i % 2 === 0);
  return [rest[0], ...types].join("/");
}

/** `<operations group>.<method>` of every Azure SDK call in functions/ and shared/. */
function sdkCalls(): Map<string, string[]> {
  const groups = Object.keys(SDK_OPERATION_GRANTS).map((k) => k.split(".")[0]);
  const pattern = new RegExp(`\\.\\s*(${[...new Set(groups)].join("|")})\\s*\\.\\s*([A-Za-z]+)\\s*\\(`, "g");
  const found = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith(".ts")) {
        const src = read(rel);
        for (const m of src.matchAll(pattern))
          found.set(`${m[1]}.${m[2]}`, [...(found.get(`${m[1]}.${m[2]}`) ?? []), rel]);
        for (const _ of src.matchAll(/\.queryResources\s*\(/g))
          found.set("metrics.queryResources", [...(found.get("metrics.queryResources") ?? []), rel]);
        // the Resource Graph client's one operation, reached through factory.resourceGraph()
        for (const _ of src.matchAll(/\.resourceGraph\(\)[\s\S]{0,200}?\.resources\s*\(/g))
          found.set("resourceGraph.resources", [...(found.get("resourceGraph.resources") ?? []), rel]);
      }
    }
  };
  walk("functions");
  walk("shared");
  return found;
}

const ROLE = JSON.parse(read("infra/jumpgate-operator-role.json")) as {
  actions: string[];
  notActions: string[];
  dataActions: string[];
};

describe("infra: the operator role lists exactly what the code calls", () => {
  const nodes = graphs().flat();
  const calls = sdkCalls();

  test("every resource type the graph manages and every SDK operation the code calls has a reason", () => {
    for (const type of new Set(nodes.map((n) => armType(n.id))))
      assert.ok(RESOURCE_TYPE_GRANTS[type], `the graph manages ${type}: add it to test/support/azure-permissions.ts`);
    for (const [op, files] of calls)
      assert.ok(
        SDK_OPERATION_GRANTS[op],
        `${files.join(", ")} call ${op}: add it to test/support/azure-permissions.ts`,
      );
    // and the tables hold nothing the code no longer does
    for (const op of Object.keys(SDK_OPERATION_GRANTS)) assert.ok(calls.has(op), `no code calls ${op} any more`);
    const types = new Set(nodes.map((n) => armType(n.id)));
    for (const type of Object.keys(RESOURCE_TYPE_GRANTS)) assert.ok(types.has(type), `no graph holds ${type} any more`);
  });

  test("infra/jumpgate-operator-role.json is exactly the union, with no wildcard", () => {
    const required = new Set<string>();
    for (const type of new Set(nodes.map((n) => armType(n.id))))
      RESOURCE_TYPE_GRANTS[type].actions.forEach((a) => required.add(a));
    for (const op of calls.keys()) SDK_OPERATION_GRANTS[op].actions.forEach((a) => required.add(a));
    for (const g of LINKED_GRANTS) g.actions.forEach((a) => required.add(a));
    const missing = [...required].filter((a) => !ROLE.actions.includes(a)).sort();
    const extra = ROLE.actions.filter((a) => !required.has(a)).sort();
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
    assert.ok(!ROLE.actions.some((a) => a.includes("*")), "no wildcard");
    assert.deepEqual([ROLE.notActions, ROLE.dataActions], [[], []]);
    assert.equal(new Set(ROLE.actions).size, ROLE.actions.length, "no duplicates");
  });

  test("grants outside the role are made on their one resource", () => {
    const site = code("infra/app/function-app.bicep");
    for (const g of RESOURCE_SCOPED_GRANTS) {
      assert.ok(!ROLE.actions.some((a) => g.actions.includes(a)), `${g.actions.join()} is not in the operator role`);
      const at = site.indexOf(`resource ${g.bicepResource} `);
      assert.ok(at >= 0, `function-app.bicep declares ${g.bicepResource}`);
      assert.match(block(site, at), /scope: alerts/);
      assert.match(site, new RegExp(`: '${g.role}'`));
    }
  });
});

describe("infra: Jumpgate may grant only the roles its graphs grant", () => {
  const main = code("infra/main.bicep");
  const guids: Record<string, string> = {
    ...Object.fromEntries([...main.matchAll(/^var (\w+) = '([0-9a-f-]{36})'$/gm)].map((m) => [m[1], m[2]] as const)),
    recordingWriter: RECORDING_WRITER,
  };
  const condition = /var assignmentCondition = '(.+)'$/m.exec(main)?.[1] ?? "";
  const resolve = (s: string) =>
    s.replace(/\\'/g, "'").replace(/\$\{(\w+)\}/g, (_, v: string) => guids[v] ?? `\${${v}}`);
  const [writeClause, deleteClause] = resolve(condition).split(") AND ((");

  test("the write clause allows the node roles to anyone and Secrets Officer only to Jumpgate itself", () => {
    const assigned = graphs()
      .flat()
      .filter((n) => n.kind === "roleAssignment")
      .map((n) => {
        const props = n.body.properties as { roleDefinitionId: string; principalId: unknown };
        return { role: props.roleDefinitionId.split("/").pop() ?? "", self: props.principalId === FUNCTION_PRINCIPAL };
      });
    assert.deepEqual(
      [...new Set(assigned.map((a) => a.role))].sort(),
      GRANTED_ROLES,
      "the graphs grant every role of ROLE_DEFINITIONS and the recording writer",
    );
    const anyone = /RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals \{([^}]+)\}\) OR/.exec(writeClause)?.[1];
    const selfOnly =
      /RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals \{([^}]+)\} AND @Request\[Microsoft.Authorization\/roleAssignments:PrincipalId\] ForAnyOfAnyValues:GuidEquals \{\$\{app.outputs.identityPrincipalId\}\}/.exec(
        writeClause,
      )?.[1];
    assert.ok(anyone && selfOnly, writeClause);
    const anyoneSet = new Set(anyone.split(", "));
    const selfSet = new Set(selfOnly.split(", "));
    for (const a of assigned)
      assert.ok(
        a.self ? anyoneSet.has(a.role) || selfSet.has(a.role) : anyoneSet.has(a.role),
        `the graph assigns ${a.role}${a.self ? " to Jumpgate" : ""}, which the condition refuses`,
      );
    // nothing more than the graph needs
    assert.deepEqual(
      [...anyoneSet, ...selfSet].sort(),
      GRANTED_ROLES,
      "the condition allows exactly shared/graph/names.ts ROLE_DEFINITIONS and the recording writer",
    );
    for (const role of selfSet)
      assert.ok(
        assigned.filter((a) => a.role === role).every((a) => a.self),
        `${role} is assigned only to Jumpgate`,
      );
    assert.match(writeClause, /ActionMatches\{'Microsoft.Authorization\/roleAssignments\/write'\}/);
  });

  test("the delete clause allows deleting only assignments of those roles; every assignment carries the condition", () => {
    assert.match(deleteClause, /ActionMatches\{'Microsoft.Authorization\/roleAssignments\/delete'\}/);
    const listed =
      /@Resource\[Microsoft.Authorization\/roleAssignments:RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals \{([^}]+)\}/.exec(
        deleteClause,
      )?.[1];
    assert.deepEqual(listed?.split(", ").sort(), GRANTED_ROLES);
    for (const file of [
      "infra/app/operator-role.bicep",
      "infra/app/operator-access.bicep",
      "infra/app/dns-zone-access.bicep",
    ]) {
      const src = code(file);
      const assignments = [...src.matchAll(/'Microsoft.Authorization\/roleAssignments@/g)].length;
      const conditions = [...src.matchAll(/condition: condition\n\s+conditionVersion: '2.0'/g)].length;
      assert.ok(assignments > 0 && assignments === conditions, `${file}: every operator assignment has the condition`);
    }
  });
});

describe("infra: alert wiring and function keys", () => {
  const site = code("infra/app/function-app.bicep");
  const registration = fromRegistry().http[Names.http.postAlert];

  test("key mode: the action group posts the common alert schema to the registered alerts route, with that function's own key", () => {
    assert.ok(registration);
    assert.deepEqual(registration.methods, ["POST"]);
    assert.equal(registration.authLevel, "function");
    const hostJson = JSON.parse(read("host.json")) as { extensions: { http: { routePrefix: string } } };
    const uris = [...site.matchAll(/serviceUri: '([^']+)'/g)].map((m) => m[1]);
    assert.ok(
      uris.includes(
        `https://\${site.properties.defaultHostName}/${hostJson.extensions.http.routePrefix}/${registration.route}?code=\${alertsFunctionKey}`,
      ),
      uris.join(", "),
    );
    assert.match(site, /useCommonAlertSchema: true\n\s+useAadAuth: false/);
    assert.equal(/var alertsFunctionName = '(\w+)'/.exec(site)?.[1], Names.http.postAlert);
    // the Functions host reads function keys from Key Vault as "function--<function>--<key>" and
    // escapes anything but letters and digits; the names here need no escaping
    const keyName = /var alertsKeyName = '(\w+)'/.exec(site)?.[1] ?? "";
    assert.match(keyName, /^[A-Za-z0-9]+$/);
    assert.match(Names.http.postAlert, /^[A-Za-z0-9]+$/);
    assert.match(site, /name: 'function--\$\{alertsFunctionName\}--\$\{alertsKeyName\}'/);
    // the key exists only in key mode
    assert.match(site, /resource alertsKey '[^']+' = if \(!tokenMode\)/);
    assert.equal(appSettings().get("AzureWebJobsSecretStorageType"), "'keyvault'");
  });

  test("token mode (the default): the secure webhook posts to the registered token route with the alerts application's identity", () => {
    const token = fromRegistry().http[Names.http.postAlertWithToken];
    assert.ok(token);
    assert.deepEqual(token.methods, ["POST"]);
    assert.equal(token.authLevel, "anonymous", "the Entra token is the credential, not a function key");
    assert.equal(/var alertsTokenRoute = '([^']+)'/.exec(site)?.[1], token.route);
    const uris = [...site.matchAll(/serviceUri: '([^']+)'/g)].map((m) => m[1]);
    assert.ok(uris.includes("https://${site.properties.defaultHostName}/api/${alertsTokenRoute}"), uris.join(", "));
    // the webhook receiver's secure-webhook properties (Microsoft.Insights/actionGroups 2023-01-01)
    assert.match(
      site,
      /useAadAuth: true\n\s+objectId: alertsAppObjectId\n\s+identifierUri: alertsAppIdentifierUri\n\s+tenantId: tenant\(\)\.tenantId/,
    );
    assert.match(
      code("infra/main.bicep"),
      /@allowed\(\['token', 'key'\]\)\n@description\([^\n]+\)\nparam alertsAuth string = 'token'/,
    );
    const params = JSON.parse(read("infra/main.parameters.json")) as { parameters: Record<string, { value: string }> };
    assert.equal(params.parameters.alertsAuth.value, "${JUMPGATE_ALERTS_AUTH=token}");
    // the app checks what the application issues: audiences, Azure Monitor's app, its object id, the role
    const settings = appSettings();
    assert.equal(
      settings.get("JUMPGATE_ALERTS_TOKEN_AUDIENCES"),
      "tokenMode ? '${alertsAppIdentifierUri},${alertsAppClientId}' : ''",
    );
    assert.equal(settings.get("JUMPGATE_ALERTS_TOKEN_APP_ID"), `'${ACTION_GROUPS_APP_ID}'`);
    assert.equal(settings.get("JUMPGATE_ALERTS_TOKEN_OBJECT_ID"), "alertsCallerObjectId");
    assert.equal(settings.get("JUMPGATE_ALERTS_TOKEN_ROLE"), "alertsAppRole");
    const entra = code("infra/app/alerts-webhook-app.bicep");
    assert.match(entra, new RegExp(`var actionGroupsAppId = '${ACTION_GROUPS_APP_ID}'`));
    assert.match(entra, /appRoleAssignmentRequired: true/);
    assert.match(entra, /allowedMemberTypes: \['Application'\]/);
    assert.match(entra, /principalId: actionGroupsPrincipal\.id\n\s+resourceId: alertsPrincipal\.id/);
  });

  test("no output carries a secret", () => {
    for (const file of bicepFiles()) {
      for (const m of code(file).matchAll(/^output \w+ \w+ = (.+)$/gm))
        assert.doesNotMatch(m[1], /key|secret|password|connectionstring/i, `${file}: output ${m[0]}`);
    }
  });
});

describe("infra: the sign-in application (optional)", () => {
  const app = code("infra/app/sign-in-app.bicep");

  test("made only when the stacks' redirect URIs are given, and its client id is an output", () => {
    const main = code("infra/main.bicep");
    assert.match(main, /param signInRedirectUris string = ''/);
    assert.match(main, /module signInApp 'app\/sign-in-app\.bicep' = if \(!empty\(signInRedirectUris\)\)/);
    assert.match(
      main,
      /output JUMPGATE_SIGN_IN_CLIENT_ID string = empty\(signInRedirectUris\) \? '' : signInApp!\.outputs\.clientId/,
    );
    const params = JSON.parse(read("infra/main.parameters.json")) as { parameters: Record<string, { value: string }> };
    assert.equal(params.parameters.signInRedirectUris.value, "${JUMPGATE_SIGN_IN_REDIRECT_URIS=}");
  });

  test("what Guacamole's OpenID extension needs: web redirect URIs, ID tokens from the authorization endpoint, the groups claim", () => {
    assert.match(
      app,
      /web: \{\n\s+redirectUris: uris\n\s+implicitGrantSettings: \{\n\s+enableIdTokenIssuance: true\n\s+enableAccessTokenIssuance: false/,
    );
    assert.match(app, /groupMembershipClaims: 'SecurityGroup'/);
    assert.match(app, /signInAudience: 'AzureADMyOrg'/);
    // the redirect URI the nodes' settings name is the stack's address, the form the parameter takes
    assert.equal(redirectUri("Jump.Example.com"), "https://jump.example.com/");
  });

  test("it asks for the OpenID Connect scopes of Microsoft Graph and nothing else: no admin-only permission", () => {
    const scopes = [...app.matchAll(/\{ id: (\w+), type: '(\w+)' \}/g)].map((m) => [m[1], m[2]]);
    assert.deepEqual(scopes, [
      ["openidScope", "Scope"],
      ["profileScope", "Scope"],
      ["emailScope", "Scope"],
    ]);
    assert.match(app, /var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'/);
    assert.match(app, /var openidScope = '37f7f235-527c-4136-accd-4a02d197296e'/);
    assert.match(app, /var profileScope = '14dad69e-099b-42c9-810b-d002981feec1'/);
    assert.match(app, /var emailScope = '64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0'/);
    assert.doesNotMatch(app, /type: 'Role'|appRoles|passwordCredentials|keyCredentials/);
  });
});

describe("infra: the deployment package", () => {
  const ignored = read(".funcignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));

  test("keeps what the app runs from and drops tests, the emulator and scripts", () => {
    const kept = [
      "package.json",
      "package-lock.json",
      "host.json",
      "tsconfig.json",
      "functions/",
      "shared/",
      "infra/node/",
    ];
    for (const k of kept)
      assert.ok(
        !ignored.some((p) => p === k || (p.endsWith("/") && k.startsWith(p)) || k === p.replace(/\*.*$/, "")),
        `.funcignore must keep ${k}`,
      );
    for (const d of ["test/", "emulator/", "scripts/", "local.settings.json"]) assert.ok(ignored.includes(d), d);
  });

  test("functions/ and shared/ import nothing the package leaves out", () => {
    const walk = (dir: string): string[] =>
      fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
        const rel = path.join(dir, e.name);
        return e.isDirectory() ? walk(rel) : e.name.endsWith(".ts") ? [rel] : [];
      });
    for (const file of [...walk("functions"), ...walk("shared")]) {
      for (const m of read(file).matchAll(/from "(\.[^"]+)"/g)) {
        const target = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), m[1]));
        assert.match(target, /^(functions|shared)\//, `${file} imports ${m[1]}`);
      }
    }
  });
});
