// Shape conformance against real Azure: replays every request of every recording in
// `<repoRoot>/../shared/azure-recordings/**/*.json` (live Azure REST traffic captured by the Azure SDK
// test recorder) against an in-process emulator and, entry by entry, compares
//   1. the status code,
//   2. whether the response carries `Azure-AsyncOperation` and `Location`,
//   3. the set of top-level keys of the JSON body (an empty body must stay empty),
//   4. for polls, the `status` of the status document (InProgress the recorded number of times, then Succeeded).
// Polls go to the status URLs the emulator itself handed out (operation ids differ), and the
// emulator is told how many running answers each recorded operation gave before it finished.
import * as assert from "node:assert/strict";
import * as https from "node:https";
import { after, before, test } from "node:test";
import { Emulator } from "../../emulator/arm/emulator";
import {
  bodyShape,
  header,
  isPollUrl,
  isRunning,
  loadRecordings,
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

// The recorder sanitizes ids; they are used as they are.
const SUB = "azure_subscription_id";
const RG = `/subscriptions/${SUB}/resourceGroups/myjstest`;
const LOCATION = "eastus";
const RG_API = "2021-04-01";

interface Seed {
  path: string;
  apiVersion: string;
  body: Json;
}

const vnet = (name: string, apiVersion: string, subnets: Json[] = []): Seed => ({
  path: `${RG}/providers/Microsoft.Network/virtualNetworks/${name}`,
  apiVersion,
  body: { location: LOCATION, properties: { addressSpace: { addressPrefixes: ["10.0.0.0/16"] }, subnets } },
});

/**
 * Resources a recording assumes exist but does not create (its resource groups are seeded
 * automatically). They are what the recorded test suite created in earlier tests of the same run.
 */
const SEEDS: Record<string, Seed[]> = {
  // same run as recording_virtualmachines_create_test.json, which created these
  "compute/recording_virtualmachines_delete_test.json": [
    vnet("networknamexx", "2023-05-01", [{ name: "subnetnamexx", properties: { addressPrefix: "10.0.0.0/24" } }]),
    {
      path: `${RG}/providers/Microsoft.Network/networkInterfaces/interfacex`,
      apiVersion: "2023-05-01",
      body: {
        location: LOCATION,
        properties: {
          ipConfigurations: [
            {
              name: "MyIpConfig",
              properties: {
                subnet: { id: `${RG}/providers/Microsoft.Network/virtualNetworks/networknamexx/subnets/subnetnamexx` },
              },
            },
          ],
        },
      },
    },
    {
      path: `${RG}/providers/Microsoft.Compute/virtualMachines/virtualmachinex`,
      apiVersion: "2023-09-01",
      body: {
        location: LOCATION,
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
              { id: `${RG}/providers/Microsoft.Network/networkInterfaces/interfacex`, properties: { primary: true } },
            ],
          },
        },
      },
    },
  ],
  // created by recording_virtualnetworks_create_test.json in the recorded suite
  "network/recording_subnets_create_test.json": [vnet("virtualnetworkzzz", "2023-09-01")],
  "network/recording_virtualnetworks_begindeleteandwait_test.json": [vnet("virtualnetworkzzz", "2023-09-01")],
};

/**
 * Recorded answers that depend on something the emulator cannot know. Each is bound to one entry
 * (checked by method and path, so an edited recording cannot silently inherit it) and relaxes only
 * what the reason explains; everything else of that entry is still compared.
 */
interface Divergence {
  entry: number;
  method: string;
  path: RegExp;
  reason: string;
  /** keys left out of both sides of the body comparison */
  ignoreKeys?: string[];
  /** what the emulator answers instead (status and body keys) */
  instead?: { status: number; keys: string[] };
}

const POLICY_TAGS =
  "The recording subscription has an Azure Policy that adds tags (azsecpack, platformsettings.host_environment...) " +
  "to every VM; the request carried no tags, so the emulator (like an unmanaged subscription) returns none.";

const DIVERGENCES: Record<string, Divergence[]> = {
  "compute/recording_virtualmachines_create_test.json": [
    { entry: 8, method: "PUT", path: /\/virtualMachines\/virtualmachinex$/, reason: POLICY_TAGS, ignoreKeys: ["tags"] },
    {
      entry: 13,
      method: "GET",
      path: /\/virtualMachines\/virtualmachinex$/,
      reason: POLICY_TAGS,
      ignoreKeys: ["tags"],
    },
  ],
  "keyvault/recording_list_secret_versions.json": [
    {
      entry: 7,
      method: "GET",
      path: /^\/deletedsecrets\/[^/]+$/,
      reason:
        "Key Vault soft delete completes asynchronously: right after DELETE the deleted secret is not readable yet " +
        "(404 SecretNotFound, and the SDK's delete poller keeps polling until it is). The emulator completes the " +
        "soft delete at once, so its first GET already finds the deleted secret.",
      instead: { status: 200, keys: ["attributes", "deletedDate", "id", "recoveryId", "scheduledPurgeDate"] },
    },
  ],
};

let emu: Emulator;
let agent: https.Agent;

before(async () => {
  // unpolledGraceMs: operations only finish through the replayed polls, never on a timer
  emu = new Emulator({ lro: { mode: "async", pollsBeforeDone: 0, unpolledGraceMs: 60_000 } });
  await emu.start();
  agent = new https.Agent({ ca: emu.caPem, keepAlive: true });
});

after(async () => {
  agent?.destroy();
  await emu?.stop();
});

test("the recordings folder has recordings", () => {
  assert.ok(RECORDINGS.length > 0, `no *.json recordings under ${DIR}`);
});

for (const rec of RECORDINGS) {
  test(`replays ${rec.name}`, async () => {
    emu.reset();
    await seed(rec);
    const failures = await replay(rec);
    if (failures.length > 0) assert.fail(`${rec.name} differs from live Azure:\n  ${failures.join("\n  ")}`);
  });
}

const isKeyVault = (url: string) => new URL(url).hostname.toLowerCase().endsWith(".vault.azure.net");

/** Resource groups the recording uses without creating them, then the file's own seeds, PUT in instant mode. */
async function seed(rec: Recording): Promise<void> {
  const groups = new Map<string, { path: string; createdByRecording: boolean }>();
  for (const e of rec.entries) {
    if (isKeyVault(e.RequestUri) || isPollUrl(e.RequestUri)) continue;
    const m = /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+/i.exec(new URL(e.RequestUri).pathname);
    if (!m || groups.has(m[0].toLowerCase())) continue;
    const exact = new URL(e.RequestUri).pathname.toLowerCase() === m[0].toLowerCase();
    groups.set(m[0].toLowerCase(), {
      path: m[0],
      createdByRecording: exact && e.RequestMethod.toUpperCase() === "PUT",
    });
  }
  const seeds: Seed[] = [
    ...[...groups.values()]
      .filter((g) => !g.createdByRecording)
      .map((g) => ({ path: g.path, apiVersion: RG_API, body: { location: LOCATION } })),
    ...(SEEDS[rec.name] ?? []),
  ];
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

function jsonHeaders(withAuth: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: "application/json", "content-type": "application/json" };
  if (withAuth) h.authorization = "Bearer test";
  return h;
}

/** Replays the entries in order and returns one line per difference. */
async function replay(rec: Recording): Promise<string[]> {
  const failures: string[] = [];
  /** recorded status URL (see pollKey) -> the emulator's URL for the same operation */
  const statusUrls = new Map<string, string>();
  /** recorded Key Vault secret version -> the emulator's version of the same secret */
  const versions = new Map<string, string>();
  const divergences = DIVERGENCES[rec.name] ?? [];

  for (let i = 0; i < rec.entries.length; i++) {
    const e = rec.entries[i];
    const method = e.RequestMethod.toUpperCase();
    const recordedPath = new URL(e.RequestUri).pathname;
    const where = `entry #${i} ${method} ${recordedPath}`;
    const poll = method === "GET" && isPollUrl(e.RequestUri);

    let url: string;
    if (poll) {
      const mapped = statusUrls.get(pollKey(e.RequestUri));
      if (!mapped) {
        failures.push(
          `${where}: polls an operation whose status URL the emulator never returned (no matching header earlier)`,
        );
        continue;
      }
      url = mapped;
    } else {
      url = rebase(mapVersions(e.RequestUri, versions), emu.url);
    }

    const recordedAO = header(e.ResponseHeaders, "azure-asyncoperation");
    const recordedLocation = header(e.ResponseHeaders, "location");
    if (!poll && (recordedAO || recordedLocation)) {
      emu.lro.settings.pollsBeforeDone = runningPolls(rec.entries, i);
    }

    const withAuth = header(e.RequestHeaders, "authorization") !== undefined;
    const headers: Record<string, string> = { accept: "application/json" };
    if (withAuth) headers.authorization = "Bearer test";
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

    let wantStatus = e.StatusCode;
    let wantShape = bodyShape(e.ResponseBody);
    let gotShape = bodyShape(res.text);
    const d = divergences.find((x) => x.entry === i);
    if (d) {
      if (d.method !== method || !d.path.test(recordedPath)) {
        failures.push(
          `${where}: the divergence noted for entry #${i} (${d.method} ${String(d.path)}) no longer matches the recording`,
        );
      } else {
        if (d.ignoreKeys) {
          wantShape = wantShape.filter((k) => !d.ignoreKeys!.includes(k));
          gotShape = gotShape.filter((k) => !d.ignoreKeys!.includes(k));
        }
        if (d.instead) {
          wantStatus = d.instead.status;
          wantShape = [...d.instead.keys].sort();
        }
      }
    }

    if (res.status !== wantStatus)
      failures.push(`${where}: status expected ${wantStatus}, got ${res.status} (${res.text.slice(0, 300)})`);
    if (!!recordedAO !== !!gotAO)
      failures.push(`${where}: Azure-AsyncOperation header expected ${presence(recordedAO)}, got ${presence(gotAO)}`);
    if (!!recordedLocation !== !!gotLocation) {
      failures.push(`${where}: Location header expected ${presence(recordedLocation)}, got ${presence(gotLocation)}`);
    }
    if (wantShape.join(",") !== gotShape.join(",")) {
      failures.push(`${where}: body keys expected [${wantShape.join(", ")}], got [${gotShape.join(", ")}]`);
    }
    if (poll) {
      const want = operationStatus(e.ResponseBody);
      const got = operationStatus(res.text);
      if (want !== got) failures.push(`${where}: operation status expected ${want ?? "none"}, got ${got ?? "none"}`);
    }

    // follow the emulator's own status URLs wherever the recording follows Azure's
    if (recordedAO && gotAO) statusUrls.set(pollKey(recordedAO), gotAO);
    if (recordedLocation && gotLocation) statusUrls.set(pollKey(recordedLocation), gotLocation);
    if (isKeyVault(e.RequestUri)) learnVersion(e.ResponseBody, res.text, versions);
  }
  return failures;
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
    if (v) keys.add(pollKey(v));
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
