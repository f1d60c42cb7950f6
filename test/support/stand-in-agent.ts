// A stand-in for a booted web node's agent: healthy, no sessions, every other command a no-op. Used
// where no VM boots (the sandbox, the benchmark, the HTTP e2e test) through the emulator's Run
// Command with JUMPGATE_NODE_ROOT pointing here; the real agent is tested in node-agent.test.ts.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NODE_AGENT_PATH } from "../../shared/node/constants";

/** Makes a node root holding the stand-in agent; remove it with fs.rmSync(root, {recursive: true}). */
export function standInAgentRoot(prefix = "jumpgate-node-"): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const agent = path.join(root, NODE_AGENT_PATH);
  fs.mkdirSync(path.dirname(agent), { recursive: true });
  fs.writeFileSync(
    agent,
    [
      "#!/usr/bin/env bash",
      "# stand-in for a booted web node: healthy, no sessions",
      'case "$1" in',
      '  health) echo \'{"healthy":true,"draining":false,"liveSessions":0,"checks":[]}\' ;;',
      "  *) echo '{\"changed\":[]}' ;;",
      "esac",
    ].join("\n"),
    { mode: 0o755 },
  );
  return root;
}
