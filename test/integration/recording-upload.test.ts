// The node's recording uploader (infra/node/jumpgate-recordings, the real script) against a real
// Azurite over HTTPS that accepts bearer tokens (`--oauth basic`): a recording written by a guacd
// stand-in (which holds an fcntl write lock on the file while the session runs, as guacd 1.6.0
// does) is left alone until the lock goes, then lands in the container with the local file's
// length and MD5, is recorded in the ledger, and only then removed locally. An upload cut in the
// middle (a proxy resets the connection of one Put Block) keeps the local copy and resumes on the
// next run without sending the blocks the service already holds. `ship --final` (the drain before
// a replacement) counts what it cannot ship as lost, with the reason, and keeps the file.
// The IMDS stand-in mints the JWT shape Azurite checks (issuer, audience, lifetime).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HttpRequest } from "@azure/functions";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { listRecordings } from "../../functions/http/recordings";
import { useServices, type Services } from "../../functions/services";
import { AzureClientFactory } from "../../shared/azure/clients";
import { renderNodeCloudInit } from "../../shared/node/cloud-init";
import { validateStackSpec } from "../../shared/spec/validate";
import { startNodeSandbox } from "../../dev/node-sandbox";
import { RECORDING_LEDGER_DIR, RECORDING_LOCAL_DIR, RECORDING_SEARCH_DIR } from "../../shared/recordings/layout";
import { startAzurite, type AzuriteServer } from "../../dev/servers/azurite";
import { startMariaDb } from "../../dev/servers/mariadb";
import { APP_USERS, GUACAMOLE_DATABASE } from "../../shared/node/constants";
import { RECORDING_UPLOADER_PATH } from "../../shared/recordings/layout";
import { runCommand } from "../../dev/servers/process";
import { TestCa } from "../../dev/servers/test-ca";

const SCRIPT = path.join(__dirname, "..", "..", "..", "infra", "node", "jumpgate-recordings");
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const BLOCK = 4096;

let work: string;
let caPath: string;
let azurite: AzuriteServer;
let container: ContainerClient;
let imds: http.Server;
let proxy: https.Server;
/** Put Block requests the proxy saw, and which of them (1-based) it cuts */
const proxyState = { putBlocks: 0, cutBlock: 0 };

function jwt(): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const claims = {
    aud: "https://storage.azure.com",
    iss: `https://sts.windows.net/${TENANT}/`,
    iat: now - 60,
    nbf: now - 60,
    exp: now + 3600,
    tid: TENANT,
    oid: "5b1d0c39-8f2a-4a61-9e25-7c4a3d2b1f00",
  };
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.sig`;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-rec-upload-"));
  const ca = TestCa.create(path.join(work, "pki"), "Jumpgate recordings test CA");
  caPath = path.join(work, "ca.pem");
  fs.writeFileSync(caPath, ca.certPem);
  const leaf = ca.issue({ commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"], dnsNames: ["localhost"] });
  azurite = await startAzurite({
    https: { certPath: leaf.certPath, keyPath: leaf.keyPath, caPem: ca.certPem },
    oauth: "basic",
  });
  const service = BlobServiceClient.fromConnectionString(azurite.connectionString, {
    // the test's own admin view of Azurite (its public development key), not the node's path
    retryOptions: { maxTries: 1 },
    tlsOptions: { ca: ca.certPem },
  } as Parameters<typeof BlobServiceClient.fromConnectionString>[1]);
  container = service.getContainerClient("recordings");
  await container.createIfNotExists();

  imds = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.headers.metadata !== "true" || url.searchParams.get("resource") !== "https://storage.azure.com/") {
      res.writeHead(400).end();
      return;
    }
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ access_token: jwt(), token_type: "Bearer" }));
  });
  await new Promise<void>((r) => imds.listen(0, "127.0.0.1", r));

  // TLS in front of Azurite that can cut one Put Block mid-way (the connection reset, no answer)
  const upstream = new URL(azurite.blobEndpoint);
  proxy = https.createServer(
    { cert: fs.readFileSync(leaf.certPath), key: fs.readFileSync(leaf.keyPath) },
    (req, res) => {
      if (req.method === "PUT" && /comp=block(&|$)/.test(req.url ?? "")) {
        proxyState.putBlocks++;
        if (proxyState.putBlocks === proxyState.cutBlock) {
          req.socket.destroy();
          return;
        }
      }
      const forward = https.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers: req.headers,
          ca: ca.certPem,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on("error", () => res.destroy());
      req.pipe(forward);
    },
  );
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
});

after(async () => {
  await new Promise((r) => proxy?.close(r));
  await new Promise((r) => imds?.close(r));
  await azurite?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function nodeRoot(name: string): string {
  const root = path.join(work, name);
  fs.mkdirSync(path.join(root, RECORDING_LOCAL_DIR), { recursive: true });
  return root;
}

function ship(root: string, node: string, ...args: string[]) {
  const proxyPort = (proxy.address() as AddressInfo).port;
  const accountPath = new URL(azurite.blobEndpoint).pathname; // /devstoreaccount1
  return runCommand("bash", [SCRIPT, "ship", ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      JUMPGATE_NODE_ROOT: root,
      JUMPGATE_RECORDINGS_CONTAINER_URL: `https://127.0.0.1:${proxyPort}${accountPath}/recordings`,
      JUMPGATE_NODE_NAME: node,
      JUMPGATE_IMDS_ENDPOINT: `http://127.0.0.1:${(imds.address() as AddressInfo).port}`,
      JUMPGATE_CA_FILE: caPath,
      JUMPGATE_RECORDINGS_BLOCK_BYTES: String(BLOCK),
    },
    timeoutMs: 60_000,
  });
}

interface RecordingSession {
  /** resolves once the file is written and locked */
  started: Promise<void>;
  /** ends the session: guacd closes the file, which drops its lock */
  finish(): Promise<void>;
}

/** guacd's stand-in: creates the file (O_EXCL, 0640), holds an fcntl write lock on all of it, writes, closes on a line on stdin. */
function recordingSession(file: string, bytes: Buffer): RecordingSession {
  const script = `
    use Fcntl qw(O_CREAT O_EXCL O_WRONLY F_SETLK F_WRLCK SEEK_SET);
    use IO::Handle;
    sysopen(my $fh, $ARGV[0], O_CREAT|O_EXCL|O_WRONLY, 0640) or die "open: $!";
    my $lock = pack("s s q q l", F_WRLCK, SEEK_SET, 0, 0, 0); fcntl($fh, F_SETLK, $lock) or die "lock: $!";
    open(my $src, "<", $ARGV[1]) or die; binmode $src; local $/; my $data = <$src>;
    syswrite($fh, $data) == length($data) or die "write: $!";
    STDOUT->autoflush(1); print "recording\n";
    my $wait = <STDIN>; close($fh); print "closed\n";`;
  const source = path.join(fs.mkdtempSync(path.join(work, "guacd-input-")), "bytes");
  fs.writeFileSync(source, bytes);
  const child: ChildProcess = spawn("perl", ["-e", script, file, source], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  const waiters: { word: string; resolve: () => void }[] = [];
  child.stdout!.on("data", (c: Buffer) => {
    out += c.toString();
    for (const w of waiters.filter((x) => out.includes(x.word))) w.resolve();
  });
  const seen = (word: string) =>
    new Promise<void>((resolve, reject) => {
      if (out.includes(word)) return resolve();
      waiters.push({ word, resolve });
      child.once("exit", () => (out.includes(word) ? resolve() : reject(new Error(`stand-in exited: ${out}`))));
    });
  const started = seen("recording");
  return {
    started,
    async finish() {
      await started;
      const closed = seen("closed");
      child.stdin!.end("\n");
      await closed;
      fs.rmSync(source);
    },
  };
}

async function blobBytes(name: string): Promise<Buffer> {
  return container.getBlobClient(name).downloadToBuffer();
}

interface ShipAnswer {
  shipped: { blob: string; bytes: number }[];
  pending: string[];
  lost: { recording: string; reason: string }[];
}
const answerOf = (stdout: string) => JSON.parse(stdout) as ShipAnswer;

const md5 = (b: Buffer) => createHash("md5").update(b).digest("base64");

/** RFC 4122 version 3 (MD5) name UUID, as Java's UUID.nameUUIDFromBytes(namespace || name) makes it. */
function nameUuidV3(namespace: string, name: Buffer): string {
  const h = createHash("md5")
    .update(Buffer.concat([Buffer.from(namespace.replace(/-/g, ""), "hex"), name]))
    .digest();
  h[6] = (h[6] & 0x0f) | 0x30;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * Guacamole 1.6.0's ${HISTORY_UUID} of connection history row `historyId` (guacamole-auth-jdbc-base
 * ModeledActivityRecord.getUUID: the namespace's 16 bytes then the id as an 8-byte long; namespace
 * ConnectionRecordSet.UUID_NAMESPACE). Written here apart from the SQL the agent runs, to check it.
 */
const CONNECTION_HISTORY_NAMESPACE = "8b55f070-95f4-3d31-93ee-9c5845e7aa40";
function historyUuid(historyId: number): string {
  const id = Buffer.alloc(8);
  id.writeBigInt64BE(BigInt(historyId));
  return nameUuidV3(CONNECTION_HISTORY_NAMESPACE, id);
}

describe("recording uploader against Azurite", () => {
  test("a recording in progress stays; once guacd lets go it lands with matching length and MD5, then the local copy goes", async () => {
    const root = nodeRoot("node-a");
    const file = path.join(root, RECORDING_LOCAL_DIR, "1b4e28ba-2fa1-3d2b-883f-0016d3cca427");
    const bytes = Buffer.from(Array.from({ length: 3 * BLOCK + 123 }, (_, i) => (i * 7) % 251));
    const session = recordingSession(file, bytes);
    await session.started;
    const during = await ship(root, "web-1");
    assert.equal(during.code, 0, during.stderr);
    assert.deepEqual(JSON.parse(during.stdout), {
      shipped: [],
      pending: ["1b4e28ba-2fa1-3d2b-883f-0016d3cca427"],
      lost: [],
    });
    assert.ok(fs.existsSync(file), "the file guacd still writes is not touched");

    await session.finish();
    const done = await ship(root, "web-1");
    assert.equal(done.code, 0, done.stderr);
    const blob = "web-1/1b4e28ba-2fa1-3d2b-883f-0016d3cca427";
    assert.deepEqual(answerOf(done.stdout).shipped, [{ blob, bytes: bytes.length }]);
    const stored = await blobBytes(blob);
    assert.equal(stored.length, bytes.length);
    assert.equal(md5(stored), md5(bytes));
    const props = await container.getBlobClient(blob).getProperties();
    assert.equal(Buffer.from(props.contentMD5 ?? new Uint8Array()).toString("base64"), md5(bytes));
    assert.equal(props.metadata?.node, "web-1");
    const ledger = fs
      .readFileSync(path.join(root, RECORDING_LEDGER_DIR, "shipped.jsonl"), "utf8")
      .trim()
      .split("\n");
    assert.deepEqual(JSON.parse(ledger[0]), { ...JSON.parse(ledger[0]), blob, bytes: bytes.length, md5: md5(bytes) });
    assert.ok(!fs.existsSync(file), "removed only after the verified upload was recorded");
  });

  test("an upload cut in the middle keeps the local copy and resumes without resending what arrived", async () => {
    const root = nodeRoot("node-b");
    const name = "6fa459ea-ee8a-3ca4-894e-db77e160355e";
    const file = path.join(root, RECORDING_LOCAL_DIR, name);
    const bytes = Buffer.from(Array.from({ length: 5 * BLOCK }, (_, i) => (i * 13) % 253));
    fs.writeFileSync(file, bytes);
    proxyState.putBlocks = 0;
    proxyState.cutBlock = 3;
    const cut = await ship(root, "web-2");
    assert.equal(cut.code, 0, cut.stderr);
    assert.deepEqual(JSON.parse(cut.stdout), { shipped: [], pending: [name], lost: [] });
    assert.match(cut.stderr, /block 2 of 5/);
    assert.ok(fs.existsSync(file));
    assert.equal(await container.getBlobClient(`web-2/${name}`).exists(), false, "nothing committed");

    proxyState.putBlocks = 0;
    proxyState.cutBlock = 0;
    const resumed = await ship(root, "web-2");
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(answerOf(resumed.stdout).shipped.length, 1);
    assert.equal(proxyState.putBlocks, 3, "blocks 0 and 1 were already there: only 2, 3 and 4 were sent");
    assert.equal(md5(await blobBytes(`web-2/${name}`)), md5(bytes));
    assert.ok(!fs.existsSync(file));
  });

  test("the drain's final run ships a recording still open, and counts what it cannot ship as lost, with the reason", async () => {
    const root = nodeRoot("node-c");
    const open = path.join(root, RECORDING_LOCAL_DIR, "open-session");
    const session = recordingSession(open, Buffer.from("guacd instructions;"));
    await session.started;
    const final = await ship(root, "web-3", "--final");
    assert.equal(final.code, 0, final.stderr);
    assert.equal(answerOf(final.stdout).shipped.length, 1);
    await session.finish();

    // a recording the container already holds other bytes for (someone else's): never overwritten
    const clash = path.join(root, RECORDING_LOCAL_DIR, "open-session");
    fs.writeFileSync(clash, "different bytes");
    const lost = await ship(root, "web-3", "--final");
    assert.equal(lost.code, 1);
    const answer = JSON.parse(lost.stdout) as { lost: { recording: string; reason: string }[] };
    assert.equal(answer.lost[0].recording, "open-session");
    assert.match(answer.lost[0].reason, /holds other bytes/);
    assert.ok(fs.existsSync(clash), "a lost recording's local copy stays");
    assert.match(fs.readFileSync(path.join(root, RECORDING_LEDGER_DIR, "lost.jsonl"), "utf8"), /holds other bytes/);
    assert.equal((await blobBytes("web-3/open-session")).toString(), "guacd instructions;", "the first upload stands");
  });

  test("GET /api/stacks/{name}/recordings lists what the container holds, through the app's identity; hostile queries are 400s", async () => {
    const checked = validateStackSpec({
      name: "recst",
      subscriptionId: "00000000-0000-0000-0000-00000000a001",
      resourceGroup: "rg-recst",
      location: "westeurope",
      recordings: { retentionDays: 30 },
    });
    assert.ok(checked.ok);
    // the real client path: the app's factory (a bearer token Azurite checks, the test CA) reading the
    // container at Azurite's endpoint; of the registry, only the stack's record is needed
    const factory = new AzureClientFactory(
      {
        armEndpoint: "https://127.0.0.1:9",
        metricsEndpoint: "https://127.0.0.1:9/{location}",
        credential: "emulator",
        caPem: fs.readFileSync(caPath, "utf8"),
        verifyKeyVaultChallengeResource: false,
        requestTimeoutMs: 10_000,
        lroPollIntervalMs: 10,
        lroTimeoutMs: 1_000,
        retry: { maxRetries: 0, retryDelayInMs: 1, maxRetryDelayInMs: 1 },
      },
      { getToken: async () => ({ token: jwt(), expiresOnTimestamp: Date.now() + 3_600_000 }) },
    );
    const registry = { get: async (name: string) => (name === "recst" ? { spec: checked.spec } : undefined) };
    useServices({ factory, registry, recordingsEndpoint: azurite.blobEndpoint } as unknown as Services);
    try {
      const get = async (query: string, name = "recst") => {
        const res = await listRecordings(
          new HttpRequest({
            method: "GET",
            url: `http://127.0.0.1/api/stacks/${name}/recordings${query}`,
            params: { name },
          }),
        );
        return { status: res.status ?? 200, body: res.jsonBody as Record<string, unknown>, headers: res.headers };
      };
      const all = await get("");
      assert.equal(all.status, 200, JSON.stringify(all.body));
      const recordings = all.body.recordings as {
        blob: string;
        node: string;
        session: string;
        bytes: number;
        md5: string;
        writtenAt: string;
        retainedUntil: string;
      }[];
      // what the three nodes shipped above, each with its node, session, size and retention
      assert.deepEqual(recordings.map((r) => r.node).sort(), ["web-1", "web-2", "web-3"]);
      const drained = recordings.find((r) => r.blob === "web-3/open-session")!;
      assert.equal(drained.session, "open-session");
      assert.equal(drained.bytes, "guacd instructions;".length);
      assert.equal(drained.md5, createHash("md5").update("guacd instructions;").digest("base64"));
      assert.equal(Date.parse(drained.retainedUntil) - Date.parse(drained.writtenAt), 30 * 86_400_000);
      const one = await get("?node=web-2");
      assert.deepEqual(
        (one.body.recordings as { node: string }[]).map((r) => r.node),
        ["web-2"],
      );
      const future = await get(`?from=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`);
      assert.deepEqual(future.body.recordings, []);
      assert.deepEqual((await get("?from=2020-01-01&to=2999-12-31")).body.recordings, all.body.recordings);

      for (const hostile of [
        "?bogus=1",
        "?node=web-1&node=web-2",
        "?node=../etc",
        "?user=%27%20OR%201%3D1--",
        "?connection=a%00b",
        "?from=yesterday",
        "?from=2026-02-30T25:00:00Z",
        "?from=2026-12-02&to=2026-12-01",
        `?user=${"a".repeat(300)}`,
      ]) {
        const refused = await get(hostile);
        assert.equal(refused.status, 400, hostile);
        assert.equal(refused.body.status, 400);
        assert.match(String(refused.body.type), /invalid-query-parameter/);
        assert.match(JSON.stringify(refused.headers), /application\/problem\+json/);
      }
      assert.equal((await get("", "nostack")).status, 404);
    } finally {
      useServices(undefined);
    }
  });

  test("`jumpgate-node drain on` on a node rendered with recordings ships every recording first, open ones included", async () => {
    // the node as cloud-init writes it for a recording stack: the agent, the uploader, node.env
    const document = renderNodeCloudInit({
      stackName: "recst",
      fleetMode: "availabilitySet",
      publicHostname: "jump.example.com",
      keyVaultUrl: "https://kv-recst.vault.azure.net/",
      dbHost: "db.example.com",
      recordings: {
        containerUrl: "https://jgrecst0123456789abcdef.blob.core.windows.net/recordings",
        nodeName: "web-9",
      },
    });
    const accountPath = new URL(azurite.blobEndpoint).pathname;
    const sandbox = await startNodeSandbox(path.join(work, "drain-node"), document, {
      env: {
        // the environment wins over node.env: Azurite instead of Azure
        JUMPGATE_RECORDINGS_CONTAINER_URL: `https://127.0.0.1:${new URL(azurite.blobEndpoint).port}${accountPath}/recordings`,
        JUMPGATE_IMDS_ENDPOINT: `http://127.0.0.1:${(imds.address() as AddressInfo).port}`,
        JUMPGATE_CA_FILE: caPath,
      },
    });
    let open: RecordingSession | undefined;
    try {
      const dir = path.join(sandbox.root, RECORDING_LOCAL_DIR);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, "ended-session"), "a finished session");
      open = recordingSession(path.join(dir, "live-session"), Buffer.from("a session still running"));
      await open.started;
      const drained = await sandbox.runAgent(["drain", "on"]);
      assert.equal(drained.code, 0, drained.stderr);
      const answer = JSON.parse(drained.stdout) as {
        draining: boolean;
        recordings: { shipped: { blob: string; bytes: number }[]; lost: unknown[] };
      };
      assert.equal(answer.draining, true);
      assert.deepEqual(answer.recordings.shipped.map((r) => r.blob).sort(), [
        "web-9/ended-session",
        "web-9/live-session",
      ]);
      assert.deepEqual(answer.recordings.lost, []);
      assert.equal((await blobBytes("web-9/ended-session")).toString(), "a finished session");
      assert.equal((await blobBytes("web-9/live-session")).toString(), "a session still running");
      assert.deepEqual(fs.readdirSync(dir), [], "each local copy went once the container held it");
    } finally {
      await open?.finish();
      await sandbox.stop();
    }
  });

  test("playback from any node: `fetch SESSION` brings another node's recording into the search path, verified; tampered or hostile refused", async () => {
    const root = nodeRoot("node-player"); // a node that never served the session
    const fetch = (...args: string[]) =>
      runCommand("bash", [SCRIPT, "fetch", ...args], {
        env: {
          PATH: process.env.PATH ?? "",
          JUMPGATE_NODE_ROOT: root,
          JUMPGATE_RECORDINGS_CONTAINER_URL: `${azurite.blobEndpoint.replace("http://", "https://")}/recordings`,
          JUMPGATE_NODE_NAME: "player",
          JUMPGATE_IMDS_ENDPOINT: `http://127.0.0.1:${(imds.address() as AddressInfo).port}`,
          JUMPGATE_CA_FILE: caPath,
        },
        timeoutMs: 60_000,
      });
    const searchPath = path.join(root, RECORDING_SEARCH_DIR);
    // web-3 shipped `open-session` above
    const got = await fetch("open-session");
    assert.equal(got.code, 0, got.stderr);
    const answer = JSON.parse(got.stdout) as { fetched: { blob: string; bytes: number; path: string } };
    assert.equal(answer.fetched.blob, "web-3/open-session");
    assert.equal(answer.fetched.path, `${RECORDING_SEARCH_DIR}/open-session`);
    assert.equal(fs.readFileSync(path.join(searchPath, "open-session"), "utf8"), "guacd instructions;");
    assert.equal(fs.statSync(path.join(searchPath, "open-session")).mode & 0o777, 0o640);
    assert.equal(fs.statSync(searchPath).mode & 0o777, 0o750);

    // a blob whose bytes do not match its recorded MD5 is not played
    // (a property set after the upload: Azurite checks a Content-MD5 sent with the bytes)
    const forged = container.getBlockBlobClient("web-8/tampered");
    await forged.upload("edited bytes", 12);
    await forged.setHTTPHeaders({ blobContentMD5: createHash("md5").update("original").digest() });
    const tampered = await fetch("tampered");
    assert.equal(tampered.code, 1);
    assert.match(tampered.stderr, /not played/);
    assert.equal(fs.existsSync(path.join(searchPath, "tampered")), false);

    const missing = await fetch("no-such-session");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /holds no recording of session no-such-session/);
    for (const hostile of ["../../etc/passwd", ".hidden", "a b", ""]) {
      const refused = await fetch(hostile);
      assert.equal(refused.code, 2, hostile);
    }
    assert.deepEqual(fs.readdirSync(searchPath), ["open-session"]);
  });

  test("each recording carries its session's user and connection from Guacamole's history row (real MariaDB, Guacamole 1.6.0 schema); without a row it is still shipped, without them", async () => {
    // the namespace is itself Guacamole's v3 name UUID of OID 1.3.6.1.4.1.18060.18.2.1.2 in RFC
    // 4122's ns:OID namespace (ConnectionRecordSet's comment): so nameUuidV3 is Java's algorithm
    assert.equal(
      nameUuidV3("6ba7b812-9dad-11d1-80b4-00c04fd430c8", Buffer.from("1.3.6.1.4.1.18060.18.2.1.2")),
      CONNECTION_HISTORY_NAMESPACE,
    );
    const db = await startMariaDb();
    const appPassword = `app-Pa55'w"ord\\;-${Date.now()}`;
    const user = "Jürgen.Groß@contoso.com"; // an Entra UPN that is not ASCII
    let sandbox: Awaited<ReturnType<typeof startNodeSandbox>> | undefined;
    try {
      const schema = fs.readFileSync(
        path.join(__dirname, "..", "..", "..", "test", "fixtures", "guacamole-schema", "001-create-schema.sql"),
        "utf8",
      );
      await db.query(`CREATE DATABASE ${GUACAMOLE_DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
      await db.query(schema, { database: GUACAMOLE_DATABASE });
      // least privilege: SELECT on the history table alone is all the lookup needs (Guacamole's
      // real login holds SELECT, INSERT, UPDATE, DELETE on the whole schema)
      const login = APP_USERS.a;
      await db.query(
        `CREATE USER '${login}'@'%' IDENTIFIED BY '${appPassword.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}' REQUIRE SSL;
         GRANT SELECT ON ${GUACAMOLE_DATABASE}.guacamole_connection_history TO '${login}'@'%';`,
      );
      // a connection and sessions as Guacamole 1.6.0 writes them (ConnectionRecordMapper.xml insert);
      // 10,000 sessions between alice's first and the rest put hers beyond the newest rows the
      // agent looks at first, so her recording is found by the whole-table pass
      const digits =
        "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
      await db.query(
        `INSERT INTO guacamole_connection (connection_name, protocol) VALUES ('vm-web-01', 'ssh'), ('Build server (2)', 'rdp');
         INSERT INTO guacamole_connection_history (username, remote_host, connection_id, connection_name, start_date, end_date) VALUES
           ('alice@contoso.com', '203.0.113.7', 2, 'Build server (2)', '2026-12-07 09:00:00', '2026-12-07 09:30:00');
         INSERT INTO guacamole_connection_history (username, remote_host, connection_id, connection_name, start_date, end_date)
           SELECT 'bob@contoso.com', '203.0.113.9', 1, 'vm-web-01', '2026-12-07 09:40:00', '2026-12-07 09:41:00'
           FROM ${digits} a, ${digits} b, ${digits} c, ${digits} d;
         INSERT INTO guacamole_connection_history (username, remote_host, connection_id, connection_name, start_date, end_date) VALUES
           ('${user}', '203.0.113.8', 1, 'vm-web-01', '2026-12-07 10:00:00', '2026-12-07 10:45:00'),
           ('alice@contoso.com', '203.0.113.7', 1, 'vm-web-01', '2026-12-07 11:00:00', NULL);`,
        { database: GUACAMOLE_DATABASE },
      );
      const rows = await db.query(`SELECT history_id, username FROM guacamole_connection_history ORDER BY history_id`, {
        database: GUACAMOLE_DATABASE,
      });
      const jurgenRow = Number(rows.find((r) => r[1] === user)![0]);
      const aliceRow = Number(rows[0][0]);

      const document = renderNodeCloudInit({
        stackName: "recst",
        fleetMode: "availabilitySet",
        publicHostname: "jump.example.com",
        keyVaultUrl: "https://kv-recst.vault.azure.net/",
        dbHost: "db.example.com",
        recordings: {
          containerUrl: "https://jgrecst0123456789abcdef.blob.core.windows.net/recordings",
          nodeName: "web-7",
        },
      });
      sandbox = await startNodeSandbox(path.join(work, "history-node"), document, {
        env: {
          JUMPGATE_RECORDINGS_CONTAINER_URL: `https://127.0.0.1:${new URL(azurite.blobEndpoint).port}${new URL(azurite.blobEndpoint).pathname}/recordings`,
          JUMPGATE_IMDS_ENDPOINT: `http://127.0.0.1:${(imds.address() as AddressInfo).port}`,
          JUMPGATE_CA_FILE: caPath,
          JUMPGATE_DB_CA_FILE: db.caPath,
        },
      });
      // Guacamole's login, where Tomcat reads it (what `db-credentials` installs)
      fs.writeFileSync(
        path.join(sandbox.root, "etc", "guacamole", "guacamole.properties"),
        `mysql-hostname: 127.0.0.1\nmysql-port: ${db.port}\nmysql-database: ${GUACAMOLE_DATABASE}\n` +
          `mysql-username: ${login}\nmysql-password: ${appPassword.replace(/\\/g, "\\\\")}\nmysql-ssl-mode: verify-identity\n`,
        { mode: 0o640 },
      );
      const dir = path.join(sandbox.root, RECORDING_LOCAL_DIR);
      fs.mkdirSync(dir, { recursive: true });
      const withRow = historyUuid(jurgenRow);
      const aliceSession = historyUuid(aliceRow);
      const noRow = historyUuid(jurgenRow + 1000); // guacd's file for a row the database does not hold
      fs.writeFileSync(path.join(dir, withRow), "jurgen's session");
      fs.writeFileSync(path.join(dir, aliceSession), "alice's session");
      fs.writeFileSync(path.join(dir, noRow), "a session without a row");
      // the uploader as its unit runs it on the node: root, from /usr/local/sbin, beside the agent
      const uploader = () =>
        runCommand("bash", [path.join(sandbox!.root, RECORDING_UPLOADER_PATH), "ship"], {
          env: sandbox!.env,
          timeoutMs: 60_000,
        });
      const first = await uploader();
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(
        answerOf(first.stdout)
          .shipped.map((r) => r.blob)
          .sort(),
        [`web-7/${withRow}`, `web-7/${aliceSession}`, `web-7/${noRow}`].sort(),
      );
      const meta = async (session: string) =>
        (await container.getBlobClient(`web-7/${session}`).getProperties()).metadata ?? {};
      const jurgenMeta = await meta(withRow);
      // x-ms-meta-* values are ASCII: the UPN percent-encoded, reversibly
      assert.equal(jurgenMeta.user, "J%C3%BCrgen.Gro%C3%9F%40contoso.com");
      assert.equal(decodeURIComponent(jurgenMeta.user), user);
      assert.equal(jurgenMeta.connection, "vm-web-01");
      assert.equal(jurgenMeta.connectionid, "1");
      assert.equal(jurgenMeta.node, "web-7");
      assert.equal((await meta(aliceSession)).connection, encodeURIComponent("Build server (2)"));
      const without = await meta(noRow);
      assert.equal(without.user, undefined);
      assert.equal(without.connection, undefined);
      assert.equal(without.node, "web-7");
      assert.match(
        first.stderr,
        new RegExp(
          `${noRow}: no history row, shipped without user and connection: guacamole_connection_history has no row`,
        ),
      );
      assert.equal((await blobBytes(`web-7/${noRow}`)).toString(), "a session without a row");

      // the database down: shipped all the same, never held back, and the log says why
      await db.stop();
      const late = historyUuid(jurgenRow + 1);
      const later = historyUuid(jurgenRow + 2);
      fs.writeFileSync(path.join(dir, late), "a session while the database is down");
      fs.writeFileSync(path.join(dir, later), "another one");
      // the real client, behind a shim that counts the logins the agent makes
      const logins = path.join(work, "history-logins");
      const shim = path.join(work, "counting-mysql");
      fs.writeFileSync(
        shim,
        `#!/bin/sh\ncase "$1" in --version) ;; *) echo login >>'${logins}' ;; esac\nexec '${sandbox.env.JUMPGATE_MYSQL}' "$@"\n`,
        { mode: 0o755 },
      );
      const down = await runCommand("bash", [path.join(sandbox.root, RECORDING_UPLOADER_PATH), "ship"], {
        env: { ...sandbox.env, JUMPGATE_MYSQL: shim },
        timeoutMs: 60_000,
      });
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(
        answerOf(down.stdout)
          .shipped.map((r) => r.blob)
          .sort(),
        [`web-7/${late}`, `web-7/${later}`].sort(),
      );
      for (const session of [late, later]) {
        assert.match(
          down.stderr,
          new RegExp(
            `${session}: no history row, shipped without user and connection: .*reading guacamole_connection_history failed`,
          ),
        );
      }
      // asked once a run: a drain does not wait out a connect timeout for each recording
      assert.equal(fs.readFileSync(logins, "utf8").trim().split("\n").length, 1);
      assert.equal((await meta(later)).user, undefined);
      assert.equal((await meta(late)).user, undefined);
      assert.deepEqual(fs.readdirSync(dir), []);

      // no secret in what the uploader said or wrote
      const ledger = fs.readFileSync(path.join(sandbox.root, RECORDING_LEDGER_DIR, "shipped.jsonl"), "utf8");
      const allMeta = JSON.stringify([jurgenMeta, without, await meta(aliceSession), await meta(late)]);
      for (const text of [first.stdout, first.stderr, down.stdout, down.stderr, ledger, allMeta]) {
        assert.ok(!text.includes(appPassword), "the database password appears nowhere");
        assert.ok(!text.includes(encodeURIComponent(appPassword)));
        assert.doesNotMatch(text, /Bearer|access_token/);
      }

      // the listing: user (any case) and connection narrow to the session; one without a row shows none
      const checked = validateStackSpec({
        name: "recst",
        subscriptionId: "00000000-0000-0000-0000-00000000a001",
        resourceGroup: "rg-recst",
        location: "westeurope",
        recordings: { retentionDays: 30 },
      });
      assert.ok(checked.ok);
      const factory = new AzureClientFactory(
        {
          armEndpoint: "https://127.0.0.1:9",
          metricsEndpoint: "https://127.0.0.1:9/{location}",
          credential: "emulator",
          caPem: fs.readFileSync(caPath, "utf8"),
          verifyKeyVaultChallengeResource: false,
          requestTimeoutMs: 10_000,
          lroPollIntervalMs: 10,
          lroTimeoutMs: 1_000,
          retry: { maxRetries: 0, retryDelayInMs: 1, maxRetryDelayInMs: 1 },
        },
        { getToken: async () => ({ token: jwt(), expiresOnTimestamp: Date.now() + 3_600_000 }) },
      );
      const registry = { get: async (name: string) => (name === "recst" ? { spec: checked.spec } : undefined) };
      useServices({ factory, registry, recordingsEndpoint: azurite.blobEndpoint } as unknown as Services);
      try {
        const list = async (query: string) => {
          const res = await listRecordings(
            new HttpRequest({
              method: "GET",
              url: `http://127.0.0.1/api/stacks/recst/recordings${query}`,
              params: { name: "recst" },
            }),
          );
          assert.equal(res.status ?? 200, 200, JSON.stringify(res.jsonBody));
          return (
            res.jsonBody as {
              recordings: { session: string; user?: string; connection?: string; connectionId?: number }[];
            }
          ).recordings;
        };
        const mine = await list(`?node=web-7&user=${encodeURIComponent("jürgen.groß@CONTOSO.com")}`);
        assert.deepEqual(mine, [{ ...mine[0], session: withRow, user, connection: "vm-web-01", connectionId: 1 }]);
        assert.deepEqual(
          (await list(`?connection=${encodeURIComponent("Build server (2)")}`)).map((r) => r.session),
          [aliceSession],
        );
        assert.deepEqual(await list("?connection=vm-web-01&user=alice%40contoso.com"), []);
        const shown = (await list("?node=web-7")).find((r) => r.session === noRow)!;
        assert.equal(shown.user, undefined);
        assert.equal(shown.connection, undefined);
      } finally {
        useServices(undefined);
      }
    } finally {
      await sandbox?.stop();
      await db.stop();
    }
  });
});
