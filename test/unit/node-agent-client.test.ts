// The app's side of the node agent: Run Command scripts quote every argument so bash passes it
// through unchanged (proved by running them with bash against a recording stand-in agent), and the
// parsers turn the agent's output and Azure's Run Command message into typed results.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCommandResultBody } from "../../emulator/arm/run-command";
import { errorCode } from "../../shared/node/run-agent";
import {
  AgentOutputError,
  AgentScriptError,
  agentRunCommand,
  agentScript,
  HANDED_PARAMETERS,
  handedSecrets,
  parseAgentJson,
  parseBootstrapDb,
  parseDbUser,
  parseDrain,
  parseHealth,
  SETTLED,
  shellQuote,
  splitRunCommandMessage,
} from "../../shared/node/agent";
import { SECRET_NAMES } from "../../shared/secret-names";
import { NODE_AGENT_PATH } from "../../shared/node/constants";
import { runTool } from "../../dev/system-tools";

const TRICKY = [
  "plain",
  "",
  "with space",
  "it's",
  "'",
  "''",
  '"double"',
  "$HOME",
  "$(touch /tmp/pwned)",
  "`id`",
  "a\\b",
  "*",
  "~root",
  "--wait",
  "-n",
  "!event",
  "semi;colon&amp|pipe>redir<in",
  "ünïcödé ✓",
];

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-agent-script-"));
  const agent = path.join(root, NODE_AGENT_PATH);
  fs.mkdirSync(path.dirname(agent), { recursive: true });
  // records argv (NUL-separated) and stdin, like the real agent receives them
  fs.writeFileSync(
    agent,
    `#!/usr/bin/env bash\nprintf '%s\\0' "$@" >"${root}/argv"\ncat >"${root}/stdin"\nprintf '{"ok":true}\\n'\n`,
    { mode: 0o755 },
  );
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function runScript(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("bash", ["-c", script], {
    env: { PATH: process.env.PATH, JUMPGATE_NODE_ROOT: root },
    cwd: root,
    encoding: "utf8",
    timeout: 10_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("agent Run Command scripts", () => {
  test("shellQuote passes every string through bash unchanged", () => {
    for (const word of TRICKY) {
      const r = spawnSync("bash", ["-c", `printf '%s' ${shellQuote(word)}`], { encoding: "utf8" });
      assert.equal(r.stdout, word);
    }
  });

  test("agentScript runs the agent with exactly the given arguments", () => {
    const r = runScript(agentScript("drain", ["on", "--wait", "600", ...TRICKY]));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '{"ok":true}\n');
    const argv = fs.readFileSync(path.join(root, "argv"), "utf8").split("\0").slice(0, -1);
    assert.deepEqual(argv, ["drain", "on", "--wait", "600", ...TRICKY]);
    assert.equal(fs.readFileSync(path.join(root, "stdin"), "utf8"), "", "no stdin unless given");
    assert.equal(fs.existsSync("/tmp/pwned"), false);
  });

  test("stdin (SQL) travels in a quoted here-doc, even when it contains the delimiter or shell syntax", () => {
    const sql = "SELECT '$HOME', `x`, \"$(id)\";\nJUMPGATE_STDIN\n\\n line two\n";
    const r = runScript(agentScript("sql", ["--database", "guacamole"], { stdin: sql }));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(root, "stdin"), "utf8"), sql);
    assert.deepEqual(fs.readFileSync(path.join(root, "argv"), "utf8").split("\0").slice(0, -1), [
      "sql",
      "--database",
      "guacamole",
    ]);
  });

  test("the Run Command body is RunShellScript with the same lines, and the scripts pass shellcheck", () => {
    const body = agentRunCommand("install-cert", ["--secret", "tls-bundle", "--version", "abc123"]);
    assert.equal(body.commandId, "RunShellScript");
    assert.equal(
      body.script.join("\n"),
      agentScript("install-cert", ["--secret", "tls-bundle", "--version", "abc123"]),
    );
    assert.match(body.script.join("\n"), new RegExp(`\\$\\{JUMPGATE_NODE_ROOT:-\\}${NODE_AGENT_PATH}`));
    for (const script of [agentScript("health"), agentScript("sql", [], { stdin: "SELECT 1;" })]) {
      const file = path.join(root, "script.sh");
      fs.writeFileSync(file, `#!/bin/bash\n${script}\n`);
      const r = runTool("shellcheck", [file]);
      assert.equal(r.status, 0, r.stdout);
    }
  });

  test("unknown commands and control characters are refused", () => {
    assert.throws(() => agentScript("rm -rf /"), AgentScriptError);
    assert.throws(() => agentScript("drain", ["on\n--wait"]), AgentScriptError);
    assert.throws(() => agentScript("drain", ["\u0000"]), AgentScriptError);
    assert.throws(() => agentScript("sql", [], { stdin: "a\u0000b" }), AgentScriptError);
  });
});

describe("what the app hands an agent command (managed Run Command protected parameters)", () => {
  const admin = (version: string) => ({
    parameter: HANDED_PARAMETERS.admin,
    secret: SECRET_NAMES.dbAdminPassword,
    version,
  });
  test("the admin steps get the admin password, bootstrap-db guacadmin's too; nothing else gets anything", () => {
    assert.deepEqual(handedSecrets("sql", []), [admin(SETTLED)]);
    assert.deepEqual(handedSecrets("bootstrap-db", []), [
      admin(SETTLED),
      { parameter: HANDED_PARAMETERS.guacadmin, secret: SECRET_NAMES.guacadminPassword, version: SETTLED },
    ]);
    assert.deepEqual(handedSecrets("db-user", ["set-password", "--user", "b", "--version", "v2"]), [admin(SETTLED)]);
    // a login test of a given admin version gets exactly that version; an app user's test reads its own secret
    assert.deepEqual(handedSecrets("db-user", ["test", "--user", "admin", "--version", "v9"]), [admin("v9")]);
    assert.deepEqual(handedSecrets("db-user", ["test", "--user", "a", "--version", "v9"]), []);
    // the read-only check and every other command: the node's own reads, nothing handed over
    assert.deepEqual(handedSecrets("bootstrap-db", ["--check"]), []);
    for (const command of ["health", "drain", "install-cert", "acme-challenge", "db-credentials", "init"])
      assert.deepEqual(handedSecrets(command, ["--secret", SECRET_NAMES.tlsBundle]), [], command);
  });

  test("sign-in and the group sync get nothing; guacadmin set-password gets exactly the version it names", () => {
    assert.deepEqual(handedSecrets("guacadmin", ["set-password", "--version", "v7"]), [
      { parameter: HANDED_PARAMETERS.guacadmin, secret: SECRET_NAMES.guacadminPassword, version: "v7" },
    ]);
    for (const args of [["enable"], ["disable"], ["status"], ["set-password"]])
      assert.deepEqual(handedSecrets("guacadmin", args), [], args.join(" "));
    assert.deepEqual(handedSecrets("sign-in", ["--property", "openid-client-id=x"]), []);
    assert.deepEqual(handedSecrets("access-groups", ["--stack", "s", "--group", "x:admin"]), []);
  });
});

describe("agent output parsers", () => {
  const health = {
    healthy: true,
    draining: false,
    liveSessions: 3,
    nginx: true,
    tomcat: true,
    guacd: true,
    database: true,
    databaseUser: "guacamole_a",
    certificate: {
      serial: "0A1B",
      notAfter: "2031-01-01T00:00:00Z",
      subject: "CN=web.example.com",
      issuer: "CN=R11,O=Let's Encrypt,C=US",
      selfSigned: false,
    },
    checks: [{ name: "nginx", ok: true, detail: "http 301, https handshake ok" }],
    failingUnits: [],
    installed: { guacamole: "1.6.0", tomcat: "9.0.118", installedAt: "2025-01-01T00:00:00Z" },
    node: "web-1",
    time: "2025-01-01T00:00:00Z",
  };

  test("parseHealth reads the agent's JSON (last JSON line wins over noise)", () => {
    const parsed = parseHealth(`some chatter\n{"partial":\n${JSON.stringify(health)}\n`);
    assert.deepEqual(parsed, health);
    assert.equal(parseHealth(JSON.stringify({ ...health, certificate: null })).certificate, null);
    // an agent from before `databaseUser`, or a node without credentials yet
    assert.equal(parseHealth(JSON.stringify({ ...health, databaseUser: undefined })).databaseUser, null);
    // a failing unit as systemd sees it; an agent from before `failingUnits` reports none
    const failing = {
      unit: "guacd.service",
      activeState: "activating",
      subState: "auto-restart",
      restarts: 7,
      log: ["x"],
    };
    assert.deepEqual(parseHealth(JSON.stringify({ ...health, failingUnits: [failing] })).failingUnits, [failing]);
    assert.deepEqual(parseHealth(JSON.stringify({ ...health, failingUnits: undefined })).failingUnits, []);
    assert.throws(() => parseHealth(JSON.stringify({ ...health, failingUnits: [{ unit: 1 }] })), AgentOutputError);
    assert.throws(() => parseHealth(JSON.stringify({ ...health, liveSessions: "3" })), AgentOutputError);
    assert.throws(() => parseHealth("no json at all"), AgentOutputError);
  });

  test("parseDrain and parseBootstrapDb", () => {
    assert.deepEqual(parseDrain('{"draining":true,"liveSessions":0,"drained":true,"waitedSeconds":4}'), {
      draining: true,
      liveSessions: 0,
      drained: true,
      waitedSeconds: 4,
    });
    assert.deepEqual(parseBootstrapDb('{"changed":[]}').changed, []);
    assert.throws(() => parseBootstrapDb('{"changed":[1]}'), AgentOutputError);
    assert.deepEqual(parseAgentJson('{"a":1}\n{"b":2}'), { b: 2 });
  });

  test("parseDbUser reads set-password and test answers (names and versions only)", () => {
    const set = '{"user":"guacamole_b","slot":"b","secret":"db-app-b-password","version":"v2","changed":true}';
    assert.deepEqual(parseDbUser(set), {
      user: "guacamole_b",
      slot: "b",
      secret: "db-app-b-password",
      version: "v2",
      changed: true,
    });
    const test = '{"user":"jumpgateadmin","slot":"admin","secret":"mysql-admin-password","version":"v9","login":true}';
    assert.equal(parseDbUser(test).login, true);
    assert.throws(() => parseDbUser('{"user":"x","slot":"c","secret":"s","version":"v"}'), AgentOutputError);
  });

  test("splitRunCommandMessage reads Azure's Run Command status message", () => {
    const okMessage = runCommandResultBody({ exitCode: 0, stdout: '{"changed":[]}\n', stderr: "note\n" }).value[0] as {
      message: string;
    };
    assert.deepEqual(splitRunCommandMessage(okMessage.message), {
      succeeded: true,
      stdout: '{"changed":[]}\n',
      stderr: "note\n",
    });
    const failed = runCommandResultBody({ exitCode: 2, stdout: "", stderr: "usage error: x\n" }).value[0] as {
      message: string;
    };
    const split = splitRunCommandMessage(failed.message);
    assert.deepEqual([split.succeeded, split.exitStatus, split.stderr], [false, 2, "usage error: x\n"]);
    assert.throws(() => splitRunCommandMessage("Enable succeeded: nothing"), AgentOutputError);
  });
});

describe("Run Command failures", () => {
  test("errorCode reads a REST error's code, or the code in a failed long-running operation's message", () => {
    assert.equal(errorCode(Object.assign(new Error("x"), { code: "Conflict" })), "Conflict");
    assert.equal(
      errorCode(
        new Error(
          "The long-running operation has failed. VMAgentStatusCommunicationError. VM 'a' has not reported status for VM agent or extensions.",
        ),
      ),
      "VMAgentStatusCommunicationError",
    );
    assert.equal(errorCode(new Error("something else")), "");
  });
});
