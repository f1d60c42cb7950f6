// Shape conformance against real Azure: replays every request of every recording under
// `test/fixtures/azure-recordings/` (live Azure REST traffic captured by the Azure SDK test recorders
// of JS, .NET, Java and Go; provenance in the README files there) against an in-process emulator
// and, entry by entry, compares
//   1. the status code,
//   2. whether the response carries `Azure-AsyncOperation` and `Location`,
//   3. the `Retry-After` value (or its absence),
//   4. the set of top-level keys of the JSON body (an empty body must stay empty),
//   5. for polls, the `status` of the status document (running the recorded number of times, then done).
// Polls go to the status URLs the emulator itself handed out (operation ids differ), and the
// emulator is told how many running answers each recorded operation gave before it finished (Key
// Vault's background delete and recover too: the number of 404s before the 200).
// Requests the replay does not send are dropped by the stated SKIP_RULES, requests it sends changed
// by the stated ADJUSTMENTS; both are counted and reported with the number of requests compared per
// resource type, so nothing is left out silently.
import * as assert from "node:assert/strict";
import * as https from "node:https";
import { after, before, test } from "node:test";
import { Emulator } from "../../emulator/arm/emulator";
import { ALL_TYPES } from "../../emulator/arm/providers";
import { TypeRegistry } from "../../emulator/arm/registry";
import { parseArmPath, typeKey } from "../../emulator/arm/resource-id";
import {
  bodyShape,
  header,
  isPollUrl,
  isRunning,
  loadRecordings,
  pathOf,
  pollKey,
  rebase,
  recordingsDir,
  send,
  type RecordedEntry,
  type Recording,
} from "../support/recordings";

type Json = Record<string, unknown>;

const DIR = recordingsDir(__dirname);
const RECORDINGS = loadRecordings(DIR);
const TYPES = new TypeRegistry();
TYPES.register(ALL_TYPES);

// The JS recorder sanitizes ids; they are used as they are.
const JS_RG = "/subscriptions/azure_subscription_id/resourceGroups/myjstest";
const RG_API = "2021-04-01";
/** the storage account (and container) the JS storage suite's earlier tests made */
const JS_STORAGE_RG = "/subscriptions/azure_subscription_id/resourceGroups/SSS3PT_myjstest";
const JS_STORAGE_ACCOUNT: Seed = {
  path: `${JS_STORAGE_RG}/providers/Microsoft.Storage/storageAccounts/storageaccountzzzxxx2`,
  apiVersion: "2025-01-01",
  body: {
    location: "westeurope",
    kind: "StorageV2",
    sku: { name: "Standard_GRS" },
    tags: { key1: "value1", key2: "value2" },
  },
};
const JS_STORAGE_CONTAINER: Seed = {
  path: `${JS_STORAGE_ACCOUNT.path}/blobServices/default/containers/mycontainerxxx`,
  apiVersion: "2025-01-01",
  body: {},
};

interface Seed {
  path: string;
  apiVersion: string;
  body: Json;
  /** seeded when the replay reaches this entry (what a skipped request created), else before the first */
  atEntry?: number;
}

const vnet = (group: string, name: string, location: string, subnets: Json[] = []): Seed => ({
  path: `${group}/providers/Microsoft.Network/virtualNetworks/${name}`,
  apiVersion: "2023-09-01",
  body: { location, properties: { addressSpace: { addressPrefixes: ["10.0.0.0/16"] }, subnets } },
});

/**
 * Resources a recording assumes exist but does not create (its resource groups are seeded
 * automatically). They are what the recorded test suite created in earlier tests of the same run,
 * or what a skipped request (a template deployment) created.
 */
const SEEDS: Record<string, Seed[]> = {
  // same run as recording_virtualmachines_create_test.json, which created these
  "azure-recordings/compute/recording_virtualmachines_delete_test.json": [
    vnet(JS_RG, "networknamexx", "eastus", [{ name: "subnetnamexx", properties: { addressPrefix: "10.0.0.0/24" } }]),
    {
      path: `${JS_RG}/providers/Microsoft.Network/networkInterfaces/interfacex`,
      apiVersion: "2023-05-01",
      body: {
        location: "eastus",
        properties: {
          ipConfigurations: [
            {
              name: "MyIpConfig",
              properties: {
                subnet: {
                  id: `${JS_RG}/providers/Microsoft.Network/virtualNetworks/networknamexx/subnets/subnetnamexx`,
                },
              },
            },
          ],
        },
      },
    },
    {
      path: `${JS_RG}/providers/Microsoft.Compute/virtualMachines/virtualmachinex`,
      apiVersion: "2023-09-01",
      body: {
        location: "eastus",
        properties: {
          hardwareProfile: { vmSize: "Standard_D2_v2" },
          storageProfile: {
            imageReference: {
              publisher: "MicrosoftWindowsServer",
              offer: "WindowsServer",
              sku: "2016-Datacenter",
              version: "latest",
            },
            osDisk: {
              name: "myVMosdisk",
              caching: "ReadWrite",
              createOption: "FromImage",
              managedDisk: { storageAccountType: "Standard_LRS" },
            },
          },
          osProfile: { computerName: "myVM", adminUsername: "testuser", adminPassword: "SecretPlaceholder123" },
          networkProfile: {
            networkInterfaces: [
              {
                id: `${JS_RG}/providers/Microsoft.Network/networkInterfaces/interfacex`,
                properties: { primary: true },
              },
            ],
          },
        },
      },
    },
  ],
  // created by recording_virtualnetworks_create_test.json in the recorded suite
  "azure-recordings/network/recording_subnets_create_test.json": [vnet(JS_RG, "virtualnetworkzzz", "eastus")],
  "azure-recordings/network/recording_virtualnetworks_begindeleteandwait_test.json": [
    vnet(JS_RG, "virtualnetworkzzz", "eastus"),
  ],
  // the JS storage suite: storageaccounts_create made the account, blobcontainers_create the container
  "azure-recordings-groundwork/storage/recording_blobcontainers_create_test.json": [JS_STORAGE_ACCOUNT],
  "azure-recordings-groundwork/storage/recording_blobcontainers_get_test.json": [
    JS_STORAGE_ACCOUNT,
    JS_STORAGE_CONTAINER,
  ],
  "azure-recordings-groundwork/storage/recording_blobcontainers_update_test.json": [
    JS_STORAGE_ACCOUNT,
    JS_STORAGE_CONTAINER,
  ],
  "azure-recordings-groundwork/storage/recording_blobcontainers_delete_test.json": [
    JS_STORAGE_ACCOUNT,
    JS_STORAGE_CONTAINER,
  ],
  "azure-recordings-groundwork/storage/recording_storageaccounts_get_test.json": [JS_STORAGE_ACCOUNT],
  "azure-recordings-groundwork/storage/recording_storageaccounts_update_test.json": [JS_STORAGE_ACCOUNT],
  "azure-recordings-groundwork/storage/recording_storageaccounts_delete_test.json": [JS_STORAGE_ACCOUNT],
  // the server whose configuration the recording writes (created by an earlier test of the suite)
  "azure-recordings-new/mysql/recording_configurations_begincreateorupdateandwait_test.json": [
    {
      path: "/subscriptions/2941a09d-7bcf-42fe-91ca-1765f521c829/resourceGroups/czwjstest/providers/Microsoft.DBforMySQL/flexibleServers/czwtestserver",
      apiVersion: "2023-06-01-preview",
      body: {
        location: "eastus",
        sku: { name: "Standard_D2ds_v4", tier: "GeneralPurpose" },
        properties: {
          administratorLogin: "cloudsa",
          administratorLoginPassword: "SecretPlaceholder123",
          version: "8.0.21",
        },
      },
    },
  ],
  // the network the suite's template deployment (entry #16, skipped: see SKIP_RULES) creates for the VNet link
  "azure-recordings-new/privatedns/TestPrivatednsTestSuite.json": [
    {
      ...vnet("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/Sanitized", "pn-network", "eastus", [
        { name: "test-1", properties: { addressPrefix: "10.0.0.0/24" } },
      ]),
      atEntry: 16,
    },
  ],
};

/**
 * Recorded answers that depend on something the emulator cannot know. Each is bound to one entry
 * (checked by method and path, so an edited recording cannot silently inherit it) and leaves only
 * the named keys out of the body comparison; everything else of that entry is still compared.
 */
interface Divergence {
  entry: number;
  method: string;
  path: RegExp;
  reason: string;
  ignoreKeys: string[];
}

const POLICY_TAGS =
  "The recording subscription has an Azure Policy that adds tags (azsecpack, platformsettings.host_environment...) " +
  "to every VM; the request carried no tags, so the emulator (like an unmanaged subscription) returns none.";

const DIVERGENCES: Record<string, Divergence[]> = {
  "azure-recordings/compute/recording_virtualmachines_create_test.json": [
    { entry: 8, method: "PUT", path: /\/virtualMachines\/virtualmachinex$/, reason: POLICY_TAGS, ignoreKeys: ["tags"] },
    {
      entry: 13,
      method: "GET",
      path: /\/virtualMachines\/virtualmachinex$/,
      reason: POLICY_TAGS,
      ignoreKeys: ["tags"],
    },
  ],
};

/** Requests the replay does not send: each rule says why; every request it drops is counted. */
interface SkipRule {
  name: string;
  why: string;
  matches(method: string, path: string): boolean;
}

const SKIP_RULES: SkipRule[] = [
  {
    name: "Microsoft Graph",
    why:
      "set-up calls of the Java recorder's tests (applications, service principals, users, domains) against " +
      "graph.microsoft.com; Jumpgate does not call Microsoft Graph and the emulator does not serve it",
    matches: (_, path) => /^\/(v1\.0|beta)\//i.test(path),
  },
  {
    name: "subscription look-ups",
    why: "the .NET recorder's test base reads the subscription first; Jumpgate never reads a subscription",
    matches: (method, path) => method === "GET" && /^\/subscriptions\/[^/]+$/i.test(path),
  },
  {
    name: "role definition look-ups",
    why:
      "the Java test finds Contributor by name in the built-in role catalogue; Jumpgate names built-in " +
      "roles by their fixed ids and never reads the catalogue, which the emulator does not serve",
    matches: (method, path) =>
      method === "GET" && /\/providers\/Microsoft\.Authorization\/roleDefinitions$/i.test(path),
  },
  {
    name: "template deployments",
    why:
      "the Go suite creates its network through an ARM template; Jumpgate writes resource by resource and " +
      "never deploys templates, which the emulator does not run (the network it creates is seeded instead)",
    matches: (_, path) => /\/providers\/Microsoft\.Resources\/deployments\//i.test(path),
  },
];

/** Requests the replay sends changed: each is counted. */
const ADJUSTMENTS = {
  apiVersion:
    "api-version=** (the .NET recorder hides the api-version of subscription and resource-group calls): " +
    "sent with the newest api-version the emulator accepts for the type",
} as const;

/** What one recording's replay did, for the report. */
interface ReplayResult {
  failures: string[];
  compared: Map<string, number>;
  skipped: Map<string, number>;
  adjusted: Map<string, number>;
  /** Retry-After values that differ from this recording but match another recording of the same step */
  retryAfterOthers: string[];
}

let emu: Emulator;
let agent: https.Agent;
const results = new Map<string, ReplayResult>();

before(async () => {
  // unpolledGraceMs: operations only finish through the replayed polls, never on a timer;
  // recordedRetryAfter: the Retry-After values are part of what is compared
  emu = new Emulator({
    lro: { mode: "async", pollsBeforeDone: 0, unpolledGraceMs: 60_000, recordedRetryAfter: true },
  });
  await emu.start();
  agent = new https.Agent({ ca: emu.caPem, keepAlive: true });
});

after(async () => {
  agent?.destroy();
  await emu?.stop();
});

test("the recordings folder has the recordings of both sets", () => {
  const sets = new Set(RECORDINGS.map((r) => r.name.split("/")[0]));
  assert.deepEqual(
    [...sets].sort(),
    ["azure-recordings", "azure-recordings-groundwork", "azure-recordings-new"],
    `recordings under ${DIR}`,
  );
});

/** Retry-After values of every recording, by step (see stepOf): a step Azure answered differently in two runs. */
const RECORDED_RETRY_AFTER = collectRetryAfter(RECORDINGS);

for (const rec of RECORDINGS) {
  test(`replays ${rec.name}`, async () => {
    emu.reset();
    await seed(rec);
    const result = await replay(rec);
    results.set(rec.name, result);
    if (result.failures.length > 0) {
      assert.fail(`${rec.name} differs from live Azure:\n  ${result.failures.join("\n  ")}`);
    }
  });
}

test("an api-version that neither a recording nor a pinned SDK uses is refused, as ARM does", async () => {
  emu.reset();
  const group = "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-versions";
  for (const [path, version] of [
    [group, "2015-11-01"],
    [`${group}/providers/Microsoft.Network/loadBalancers/lb`, "2019-02-01"],
    [`${group}/providers/Microsoft.Network/publicIPAddresses/ip`, "2020-03-01"],
    [`${group}/providers/Microsoft.Storage/storageAccounts/jgstore`, "2019-06-01"],
    [`${group}/providers/Microsoft.Compute/galleries/jggallery`, "2021-07-01"],
    // Backups_Put is not in 2021-05-01 (the pinned MySQL client's version), only in 2022-01-01 onwards
    [`${group}/providers/Microsoft.DBforMySQL/flexibleServers/db/backups/b`, "2021-05-01"],
  ]) {
    const res = await send(agent, "PUT", `${emu.url}${path}?api-version=${version}`, jsonHeaders(true), "{}");
    assert.equal(res.status, 400, `${path} ${version}: ${res.text}`);
    assert.equal((JSON.parse(res.text) as { error: { code: string } }).error.code, "NoRegisteredProviderFound");
  }
});

test("reports what it compared per resource type, and every request it did not send", (t) => {
  assert.equal(results.size, RECORDINGS.length, "every recording replayed");
  const sum = (pick: (r: ReplayResult) => Map<string, number>) => {
    const out = new Map<string, number>();
    for (const r of results.values()) for (const [k, n] of pick(r)) out.set(k, (out.get(k) ?? 0) + n);
    return [...out].sort((a, b) => a[0].localeCompare(b[0]));
  };
  const compared = sum((r) => r.compared);
  const total = compared.reduce((n, [, c]) => n + c, 0);
  t.diagnostic(`compared ${total} requests of ${RECORDINGS.length} recordings:`);
  for (const [type, n] of compared) t.diagnostic(`  ${type}: ${n}`);
  for (const [rule, n] of sum((r) => r.skipped)) {
    t.diagnostic(`not sent, ${rule}: ${n} (${SKIP_RULES.find((s) => s.name === rule)!.why})`);
  }
  for (const [what, n] of sum((r) => r.adjusted))
    t.diagnostic(`sent changed, ${ADJUSTMENTS.apiVersion}: ${n} (${what})`);
  for (const [name, list] of Object.entries(DIVERGENCES)) {
    for (const d of list)
      t.diagnostic(`keys not compared, ${name} #${d.entry}: ${d.ignoreKeys.join(", ")} (${d.reason})`);
  }
  const others = [...results.values()].flatMap((r) => r.retryAfterOthers);
  for (const line of others) t.diagnostic(`Retry-After as another recording of the same step: ${line}`);

  // every resource type the recordings write or read was compared, not only skipped
  for (const rec of RECORDINGS) {
    for (const e of rec.entries) {
      const path = pathOf(e.RequestUri);
      if (SKIP_RULES.some((r) => r.matches(e.RequestMethod.toUpperCase(), path)) || isPollUrl(e.RequestUri)) continue;
      const type = typeOfPath(e.RequestUri);
      assert.ok(
        compared.some(([k]) => k === type),
        `${rec.name}: no request of ${type} was compared`,
      );
    }
  }
});

// ---------------------------------------------------------------------------------------------- replay

/** The resource type a request is about, for the report ("microsoft.keyvault/vaults/secrets" for the data plane). */
function isKeyVault(url: string): boolean {
  return new URL(url).hostname.toLowerCase().endsWith(".vault.azure.net");
}

function typeOfPath(url: string): string {
  if (isKeyVault(url)) return "microsoft.keyvault/vaults/secrets";
  const p = parseArmPath(pathOf(url));
  if (!p) return "(unknown)";
  if (p.type === "" && p.trailing) return "microsoft.resources/resourcegroups";
  if (p.providerOnly && p.trailing) return typeKey(`${p.type}/${p.trailing}`);
  if (p.trailing && !p.providerOnly && !/^(resources|providers)$/i.test(p.trailing)) {
    // a collection below a resource (`.../virtualNetworkLinks`) or an action on it (`.../purge`)
    const collection = typeKey(`${p.type}/${p.trailing}`);
    return TYPES.get(collection) ? collection : typeKey(p.type);
  }
  return typeKey(p.type);
}

/** The verb an operation's Retry-After values are recorded under: put, patch, delete or the action's name. */
function verbOf(method: string, url: string): string {
  if (method !== "POST") return method.toLowerCase();
  return pathOf(url).split("/").pop()!.toLowerCase();
}

/** Resource groups the recording uses without creating them, then the file's own seeds, PUT in instant mode. */
async function seed(rec: Recording): Promise<void> {
  const groups = new Map<string, { path: string; createdByRecording: boolean }>();
  for (const e of rec.entries) {
    const path = pathOf(e.RequestUri);
    if (isKeyVault(e.RequestUri) || isPollUrl(e.RequestUri) || skipRuleOf(e)) continue;
    const m = /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+/i.exec(path);
    if (!m || groups.has(m[0].toLowerCase())) continue;
    const exact = path.toLowerCase() === m[0].toLowerCase();
    groups.set(m[0].toLowerCase(), {
      path: m[0],
      createdByRecording: exact && e.RequestMethod.toUpperCase() === "PUT",
    });
  }
  const seeds: Seed[] = [
    ...[...groups.values()]
      .filter((g) => !g.createdByRecording)
      .map((g) => ({ path: g.path, apiVersion: RG_API, body: { location: "eastus" } })),
    ...(SEEDS[rec.name] ?? []).filter((s) => s.atEntry === undefined),
  ];
  await put(seeds);
}

/** PUTs seeds in instant mode. */
async function put(seeds: Seed[]): Promise<void> {
  emu.lro.settings.mode = "instant";
  try {
    for (const s of seeds) {
      const url = `${emu.url}${s.path}?api-version=${s.apiVersion}`;
      const res = await send(agent, "PUT", url, jsonHeaders(true), JSON.stringify(s.body));
      assert.ok(res.status === 200 || res.status === 201, `seeding ${s.path} answered ${res.status}: ${res.text}`);
    }
  } finally {
    emu.lro.settings.mode = "async";
  }
}

function skipRuleOf(e: RecordedEntry): SkipRule | undefined {
  const path = pathOf(e.RequestUri);
  return SKIP_RULES.find((r) => r.matches(e.RequestMethod.toUpperCase(), path));
}

function jsonHeaders(withAuth: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: "application/json", "content-type": "application/json" };
  if (withAuth) h.authorization = "Bearer test";
  return h;
}

/** An operation the replay follows: where the emulator polls it, and what the recording polls. */
interface FollowedOperation {
  url: string;
  type: string;
  verb: string;
  runningAnswers: number;
}

/** Replays the entries in order and returns one line per difference, with the counts for the report. */
async function replay(rec: Recording): Promise<ReplayResult> {
  const result: ReplayResult = {
    failures: [],
    compared: new Map(),
    skipped: new Map(),
    adjusted: new Map(),
    retryAfterOthers: [],
  };
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  /** recorded status URL (see pollKey) -> the emulator's URL for the same operation */
  const operations = new Map<string, FollowedOperation>();
  /** recorded Key Vault secret version -> the emulator's version of the same secret */
  const versions = new Map<string, string>();
  /** recorded ETag -> the emulator's ETag of the same resource state (sent back in If-Match) */
  const etags = new Map<string, string>();
  const steps = stepsOf(rec);

  for (let i = 0; i < rec.entries.length; i++) {
    const e = rec.entries[i];
    const method = e.RequestMethod.toUpperCase();
    const recordedPath = pathOf(e.RequestUri);
    const where = `entry #${i} ${method} ${recordedPath}`;
    await put((SEEDS[rec.name] ?? []).filter((s) => s.atEntry === i));
    const rule = skipRuleOf(e);
    if (rule) {
      count(result.skipped, rule.name);
      continue;
    }
    const poll = method === "GET" && isPollUrl(e.RequestUri);
    const step = steps[i];

    let url: string;
    let followed: FollowedOperation | undefined;
    if (poll) {
      followed = operations.get(pollKey(e.RequestUri));
      if (!followed) {
        result.failures.push(
          `${where}: polls an operation whose status URL the emulator never returned (no matching header earlier)`,
        );
        continue;
      }
      url = followed.url;
    } else {
      url = rebase(mapVersions(e.RequestUri, versions), emu.url);
      const u = new URL(url);
      if (u.searchParams.get("api-version") === "**") {
        const accepted = TYPES.get(parseArmPath(recordedPath)?.type ?? "")?.apiVersions ?? [];
        const newest = [...accepted].sort().pop();
        if (!newest) {
          result.failures.push(`${where}: api-version=** for a type the emulator does not know`);
          continue;
        }
        u.searchParams.set("api-version", newest);
        url = u.toString();
        count(result.adjusted, typeOfPath(e.RequestUri));
      }
    }

    const recordedAO = header(e.ResponseHeaders, "azure-asyncoperation");
    const recordedLocation = header(e.ResponseHeaders, "location");
    if (!poll && (recordedAO || recordedLocation)) {
      emu.lro.settings.pollsBeforeDone = runningPolls(rec.entries, i);
    } else if (isKeyVault(e.RequestUri) && (method === "DELETE" || method === "POST")) {
      emu.lro.settings.pollsBeforeDone = keyVaultPendingReads(rec.entries, i);
    }

    const withAuth = header(e.RequestHeaders, "authorization") !== undefined;
    const headers: Record<string, string> = { accept: "application/json" };
    if (withAuth) headers.authorization = "Bearer test";
    // optimistic concurrency (an immutability policy's lock and extend): the emulator's own ETag
    const ifMatch = header(e.RequestHeaders, "if-match");
    if (ifMatch !== undefined) headers["if-match"] = etags.get(ifMatch) ?? ifMatch;
    let body: string | undefined;
    if (e.RequestBody !== null && e.RequestBody !== undefined && e.RequestBody !== "") {
      body = typeof e.RequestBody === "string" ? e.RequestBody : JSON.stringify(e.RequestBody);
      headers["content-type"] = header(e.RequestHeaders, "content-type") ?? "application/json";
    } else if (header(e.RequestHeaders, "content-length") === "0") {
      // Key Vault's challenge request: the SDK strips the body and sends Content-Length: 0
      body = "";
      const ct = header(e.RequestHeaders, "content-type");
      if (ct) headers["content-type"] = ct;
    }

    const res = await send(agent, method, url, headers, body);
    const gotAO = header(res.headers, "azure-asyncoperation");
    const gotLocation = header(res.headers, "location");
    const type = followed?.type ?? typeOfPath(e.RequestUri);
    count(result.compared, type);

    if (res.status !== e.StatusCode)
      result.failures.push(`${where}: status expected ${e.StatusCode}, got ${res.status} (${res.text.slice(0, 300)})`);
    if (!!recordedAO !== !!gotAO)
      result.failures.push(
        `${where}: Azure-AsyncOperation header expected ${presence(recordedAO)}, got ${presence(gotAO)}`,
      );
    if (!!recordedLocation !== !!gotLocation) {
      result.failures.push(
        `${where}: Location header expected ${presence(recordedLocation)}, got ${presence(gotLocation)}`,
      );
    }
    let wantShape = bodyShape(e.ResponseBody);
    let gotShape = bodyShape(res.text);
    const d = (DIVERGENCES[rec.name] ?? []).find((x) => x.entry === i);
    if (d && (d.method !== method || !d.path.test(recordedPath))) {
      result.failures.push(`${where}: the divergence noted for entry #${i} no longer matches the recording`);
    } else if (d) {
      wantShape = wantShape.filter((k) => !d.ignoreKeys.includes(k));
      gotShape = gotShape.filter((k) => !d.ignoreKeys.includes(k));
    }
    if (wantShape.join(",") !== gotShape.join(",")) {
      result.failures.push(`${where}: body keys expected [${wantShape.join(", ")}], got [${gotShape.join(", ")}]`);
    }
    if (poll) {
      const want = operationStatus(e.ResponseBody);
      const got = operationStatus(res.text);
      if (want !== got)
        result.failures.push(`${where}: operation status expected ${want ?? "none"}, got ${got ?? "none"}`);
    }

    // Retry-After: this recording's value, or (where two runs of Azure answered the same step
    // differently) the value another recording shows for it
    const wantRetry = header(e.ResponseHeaders, "retry-after");
    const gotRetry = header(res.headers, "retry-after");
    const slot = step && `${type}|${step}`;
    if (wantRetry !== gotRetry) {
      const elsewhere = slot ? RECORDED_RETRY_AFTER.get(slot) : undefined;
      if (elsewhere?.has(gotRetry ?? "none")) {
        result.retryAfterOthers.push(
          `${rec.name} ${where}: ${gotRetry ?? "none"} (recorded here: ${wantRetry ?? "none"})`,
        );
      } else {
        result.failures.push(`${where}: Retry-After expected ${wantRetry ?? "none"}, got ${gotRetry ?? "none"}`);
      }
    }

    // follow the emulator's own status URLs wherever the recording follows Azure's
    const started: FollowedOperation = followed ?? { url: "", type, verb: verbOf(method, url), runningAnswers: 0 };
    if (recordedAO && gotAO) operations.set(pollKey(recordedAO), { ...started, url: gotAO });
    if (recordedLocation && gotLocation && isPollUrl(recordedLocation)) {
      operations.set(pollKey(recordedLocation), { ...started, url: gotLocation });
    }
    if (isKeyVault(e.RequestUri)) learnVersion(e.ResponseBody, res.text, versions);
    const recordedEtag = header(e.ResponseHeaders, "etag");
    const gotEtag = header(res.headers, "etag");
    if (recordedEtag && gotEtag) etags.set(recordedEtag, gotEtag);
  }
  return result;
}

/**
 * The step of each entry that starts or polls an operation, for comparing Retry-After across
 * recordings: `{verb}|start`, `{verb}|running#{n}` or `{verb}|done` (the type is added by the caller).
 */
function stepsOf(rec: Recording): (string | undefined)[] {
  const steps: (string | undefined)[] = [];
  const ops = new Map<string, { verb: string; running: number }>();
  for (const e of rec.entries) {
    const method = e.RequestMethod.toUpperCase();
    if (skipRuleOf(e)) {
      steps.push(undefined);
      continue;
    }
    if (method === "GET" && isPollUrl(e.RequestUri)) {
      const op = ops.get(pollKey(e.RequestUri));
      if (!op) {
        steps.push(undefined);
        continue;
      }
      const running = isRunning(e);
      steps.push(`${op.verb}|${running ? `running#${op.running}` : "done"}`);
      if (running) op.running++;
      const next = header(e.ResponseHeaders, "location");
      if (next) ops.set(pollKey(next), op);
      continue;
    }
    const ao = header(e.ResponseHeaders, "azure-asyncoperation");
    const loc = header(e.ResponseHeaders, "location");
    const lro = !!ao || (!!loc && isPollUrl(loc));
    const verb = verbOf(method, e.RequestUri);
    steps.push(`${verb}|${lro ? "start" : "answer"}`);
    const op = { verb, running: 0 };
    if (ao) ops.set(pollKey(ao), op);
    if (loc && isPollUrl(loc)) ops.set(pollKey(loc), op);
  }
  return steps;
}

/** Retry-After values ("none" for no header) by `{type}|{step}`, over every recording. */
function collectRetryAfter(recordings: Recording[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const rec of recordings) {
    const steps = stepsOf(rec);
    const types = new Map<string, string>();
    rec.entries.forEach((e, i) => {
      const step = steps[i];
      if (!step) return;
      let type: string;
      if (e.RequestMethod.toUpperCase() === "GET" && isPollUrl(e.RequestUri)) {
        type = types.get(pollKey(e.RequestUri)) ?? "(unknown)";
        const next = header(e.ResponseHeaders, "location");
        if (next) types.set(pollKey(next), type);
      } else {
        type = typeOfPath(e.RequestUri);
        for (const name of ["azure-asyncoperation", "location"]) {
          const v = header(e.ResponseHeaders, name);
          if (v && isPollUrl(v)) types.set(pollKey(v), type);
        }
      }
      const key = `${type}|${step}`;
      if (!out.has(key)) out.set(key, new Set());
      out.get(key)!.add(header(e.ResponseHeaders, "retry-after") ?? "none");
    });
  }
  return out;
}

/** The `status` of an operation status document, if the body is one. */
function operationStatus(body: unknown): string | undefined {
  let value = body;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return undefined;
    }
  }
  const status = value && typeof value === "object" ? (value as Json).status : undefined;
  return typeof status === "string" ? status : undefined;
}

function presence(v: string | undefined): string {
  return v ? "present" : "absent";
}

/** How many running answers (202, or a non-terminal status) the recording got for the operation started at entry `start`. */
function runningPolls(entries: RecordedEntry[], start: number): number {
  const keys = new Set<string>();
  for (const name of ["azure-asyncoperation", "location"]) {
    const v = header(entries[start].ResponseHeaders, name);
    if (v && isPollUrl(v)) keys.add(pollKey(v));
  }
  let running = 0;
  for (let j = start + 1; j < entries.length; j++) {
    const e = entries[j];
    if (e.RequestMethod.toUpperCase() !== "GET" || !isPollUrl(e.RequestUri) || !keys.has(pollKey(e.RequestUri)))
      continue;
    if (!isRunning(e)) break;
    running++;
    const next = header(e.ResponseHeaders, "location");
    if (next) keys.add(pollKey(next));
  }
  return running;
}

/**
 * Key Vault deletes and recovers a secret in the background: the reads of the deleted secret
 * (after a DELETE) or of the secret (after a recover) that answered 404 before the first 200.
 */
function keyVaultPendingReads(entries: RecordedEntry[], start: number): number {
  const e = entries[start];
  const m = /^\/(secrets|deletedsecrets)\/([^/]+)/i.exec(pathOf(e.RequestUri));
  if (!m || e.StatusCode >= 300) return 0;
  const name = m[2].toLowerCase();
  const recovering = e.RequestMethod.toUpperCase() === "POST";
  const watched = new RegExp(`^/${recovering ? "secrets" : "deletedsecrets"}/${name}/?$`, "i");
  let reads = 0;
  for (let j = start + 1; j < entries.length; j++) {
    const x = entries[j];
    if (x.RequestMethod.toUpperCase() !== "GET" || !watched.test(pathOf(x.RequestUri))) continue;
    if (x.StatusCode !== 404) break;
    reads++;
  }
  return reads;
}

/** Key Vault secret ids are `https://{vault}/secrets/{name}/{version}`: pair the recorded version with the emulator's. */
function learnVersion(recorded: unknown, gotText: string, versions: Map<string, string>): void {
  const version = (id: unknown) => (typeof id === "string" ? /\/secrets\/[^/]+\/([^/?]+)$/.exec(id)?.[1] : undefined);
  let got: unknown;
  try {
    got = JSON.parse(gotText) as unknown;
  } catch {
    return;
  }
  const a = recorded && typeof recorded === "object" ? version((recorded as Json).id) : undefined;
  const b = got && typeof got === "object" ? version((got as Json).id) : undefined;
  if (a && b) versions.set(a.toLowerCase(), b);
}

function mapVersions(recordedUrl: string, versions: Map<string, string>): string {
  if (!isKeyVault(recordedUrl) || versions.size === 0) return recordedUrl;
  const u = new URL(recordedUrl);
  u.pathname = u.pathname
    .split("/")
    .map((s) => versions.get(s.toLowerCase()) ?? s)
    .join("/");
  return u.toString();
}
