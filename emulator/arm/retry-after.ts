// The Retry-After values Azure sends on long-running operations, as recorded in
// test/fixtures/azure-recordings (the conformance test compares every one). The SDK pollers wait
// for a poll answer's Retry-After before the next poll (the first poll goes out at once, whatever the
// initial answer says), so these values decide how many requests an operation costs the caller.
// Values marked "inferred" were not recorded for that operation: they are the provider's value for
// its recorded operations, so that an unrecorded operation is not polled more eagerly than Azure allows.
// Where no recording here covers an operation but the research notes cite one, the notes' value is used.

/** Retry-After seconds per step of one operation; an absent step sends no header. */
export interface RetryAfterSteps {
  /** the answer that starts the operation (201/202) */
  start?: number;
  /** running poll answers in order; the last value repeats */
  running?: number[];
  /** the poll answer that reports the end */
  done?: number;
}

type Verb = string; // put | patch | delete | an action name (lower case)

/** By resource type key, then verb (`*` = any verb of the type). */
const BY_TYPE: Record<string, Record<Verb, RetryAfterSteps>> = {
  // recording_virtualnetworks_create_test: 201 RA=3, running RA=10 then 20; subnets and deletes RA=10
  "microsoft.network/virtualnetworks": { put: { start: 3, running: [10, 20] }, delete: { start: 10, running: [10] } },
  "microsoft.network/virtualnetworks/subnets": {
    put: { start: 3, running: [10] },
    delete: { start: 10, running: [10] },
  },
  // PublicIpAddressTests: 201 RA=1, running RA=2; delete 202 RA=10, running RA=10
  "microsoft.network/publicipaddresses": { put: { start: 1, running: [2] }, delete: { start: 10, running: [10] } },
  // LoadBalancerTests: 201 without Retry-After (running: inferred); delete 202 RA=10
  "microsoft.network/loadbalancers": { put: { running: [10] }, delete: { start: 10, running: [10] } },
  // recording_virtualmachines_delete_test: NIC delete 202 RA=4 (running: inferred)
  "microsoft.network/networkinterfaces": { delete: { start: 4, running: [10] } },
  // TestPrivatednsTestSuite: every write 202 RA=30, running polls 202 RA=30
  "microsoft.network/privatednszones": { "*": { start: 30, running: [30] } },
  "microsoft.network/privatednszones/virtualnetworklinks": { "*": { start: 30, running: [30] } },
  // recording_virtualmachines_create/delete_test: 201/202 RA=10, running RA=50 then 30 (create), 30 (delete).
  // Not in the in-repo set: Run Command and restart, from four recordings of the same shape (azure-sdk-assets
  // python/sdk/compute/azure-mgmt-compute/tests/recordings/test_mgmt_compute_vm.pyTestMgmtComputetest_compute_vm.json
  // and ..._vmss.pyTestMgmtComputetest_compute_vmss_vm.json at commit 0fc23eb5, api-version 2023-09-01;
  // go/sdk/resourcemanager/compute/armcompute/testdata/recordings/TestVirtualMachineTestSuite.json at
  // 0b86147c, 2023-03-01; azure-cli's test_vm_run_command_e2e.yaml, 2019-03-01). Run Command sends no
  // Retry-After at all: not on its 202, not on a running poll, not on the last (the clients polled at
  // their own intervals). Restart: 202 RA=10, running polls RA=10, then 30, 30, the last none (Python;
  // the Go run answered 10 and then none: the emulator sends the longer, later recording's values)
  "microsoft.compute/virtualmachines": {
    put: { start: 10, running: [50, 30] },
    delete: { start: 10, running: [30] },
    runcommand: {},
    restart: { start: 10, running: [10, 30] },
  },
  // a scale set instance's Run Command: the same, no Retry-After at any step (the vmss recording above)
  "microsoft.compute/virtualmachinescalesets/virtualmachines": { runcommand: {} },
  // the OS disk's delete: no Retry-After at all, polled at the client's own interval
  "microsoft.compute/disks": { "*": {} },
  // recording_resourcegroups_delete_test (and the Go suite): 202 RA=15, running 202 RA=15. The Java
  // recordings (2022-09-01) saw RA=0 on the same step; the emulator sends 15, as two of three did.
  "microsoft.resources/resourcegroups": { delete: { start: 15, running: [15] } },
  // not in the in-repo set: the research notes' MySQL server recordings (servers create/update,
  // arm-mysql-flexible) show RA=60 on the 202 of a server PUT or PATCH and on its polls
  "microsoft.dbformysql/flexibleservers": { put: { start: 60, running: [60] }, patch: { start: 60, running: [60] } },
  // recording_storageaccounts_create_test, ExtendImmutabilityPolicy: 202 RA=17, running 202 RA=17, the 200 none
  "microsoft.storage/storageaccounts": { put: { start: 17, running: [17] } },
  // GalleryImageCollectionTests, TestGalleryTestSuite: galleries and image definitions send no Retry-After
  "microsoft.compute/galleries": { "*": {} },
  "microsoft.compute/galleries/images": { "*": {} },
  // not in the in-repo set (269,246 characters of signed polling URLs): the Python SDK's gallery
  // recording (azure-sdk-assets python/.../test_mgmt_compute_galleries...json, commit 0fc23eb5) shows
  // an image version's create answered RA=60 and RA=60 on every running poll, none on the last
  "microsoft.compute/galleries/images/versions": { put: { start: 60, running: [60] }, "*": {} },
  // VaultTests.canEnableSoftDeleteAndPurge: purge 202 RA=0, its one poll answered 200
  "microsoft.keyvault/locations/deletedvaults": { purge: { start: 0 } },
};

/** By provider namespace: every operation of the provider (recorded), or its recorded pattern (inferred). */
const BY_NAMESPACE: Record<string, RetryAfterSteps> = {
  // recording_configurations_begincreateorupdateandwait_test: 202 RA=15 and RA=15 on every poll answer, the last too
  "microsoft.dbformysql": { start: 15, running: [15], done: 15 },
  // inferred: network deletes and running polls answer RA=10 in every recording
  "microsoft.network": { running: [10] },
  // inferred: compute answers RA=10 on its 202s and RA=30 on running polls in every recording
  "microsoft.compute": { start: 10, running: [30] },
};

export function recordedRetryAfter(typeKey: string, verb: string): RetryAfterSteps {
  const byVerb = BY_TYPE[typeKey];
  const steps = byVerb?.[verb.toLowerCase()] ?? byVerb?.["*"];
  if (steps) return steps;
  return BY_NAMESPACE[typeKey.split("/")[0]] ?? {};
}

/** The value for a step: `running` answers are counted from 0. */
export function retryAfterAt(steps: RetryAfterSteps, step: "start" | "done" | number): number | undefined {
  if (step === "start") return steps.start;
  if (step === "done") return steps.done;
  const running = steps.running;
  if (!running || running.length === 0) return undefined;
  return running[Math.min(step, running.length - 1)];
}

/**
 * The header value. Under a latency scale (benchmarks run Azure's durations scaled down) the delay
 * is scaled too; a delay under a second cannot be written in delay-seconds, so it is written as an
 * HTTP-date (RFC 9110 §10.2.3) with milliseconds, which the SDK's poller reads with `new Date()`.
 */
export function retryAfterHeader(seconds: number, scale: number, now = Date.now()): string {
  if (scale <= 0 || scale === 1) return String(seconds);
  const at = new Date(now + seconds * 1000 * scale);
  const ms = String(at.getUTCMilliseconds()).padStart(3, "0");
  return at.toUTCString().replace(/ GMT$/, `.${ms} GMT`);
}
