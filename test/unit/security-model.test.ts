// The README's Security model says what the code does, for the claims a reader relies on most: the two
// Key Vaults' protection and network exposure (the stack's vault from the resource graph, the app's
// host-keys vault from its Bicep), and SSH (no rule lets it in, whatever the spec says).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { buildStackGraph, webSecurityRules } from "../../shared/graph/stack-graph";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";

const ROOT = path.join(__dirname, "..", "..", "..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const SECURITY = README.slice(
  README.indexOf("## Security model"),
  README.indexOf("\n## ", README.indexOf("## Security model") + 5),
);
/** The README's text with line breaks folded, so a claim can span lines. */
const said = (text: string) => SECURITY.replace(/\s+/g, " ").includes(text);

function spec(overrides: Record<string, unknown> = {}): StackSpec {
  const r = validateStackSpec({
    name: "sec1",
    subscriptionId: "00000000-0000-0000-0000-00000000a001",
    resourceGroup: "rg-sec",
    location: "westeurope",
    ...overrides,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

describe("README security model matches the code", () => {
  test("the stack's vault: RBAC, 90 days of soft delete, purge protection, no network rules", () => {
    const graph = buildStackGraph(spec(), { tenantId: "t", renderCustomData: () => "" });
    const vault = graph.nodes.find((n) => n.kind === "keyVault")!;
    const p = vault.body.properties as Record<string, unknown>;
    assert.equal(p.enableRbacAuthorization, true);
    assert.equal(p.enableSoftDelete, true);
    assert.equal(p.softDeleteRetentionInDays, 90);
    assert.equal(p.enablePurgeProtection, true);
    // public network access stays ARM's default (Enabled), without a firewall
    assert.equal(p.networkAcls, undefined);
    assert.equal(p.publicNetworkAccess, undefined);
    assert.ok(said("Each stack has its own vault (Azure RBAC, soft delete for 90 days, purge protection)"), SECURITY);
    assert.ok(said("Neither vault has network rules: both answer on their public endpoint"));
  });

  test("the app's host-keys vault: RBAC, 7 days of soft delete, no purge protection, public endpoint", () => {
    const bicep = fs.readFileSync(path.join(ROOT, "infra", "app", "function-app.bicep"), "utf8");
    const start = bicep.indexOf("resource hostKeys ");
    assert.ok(start >= 0, "the host-keys vault is in function-app.bicep");
    const block = bicep.slice(start, bicep.indexOf("\n}\n", start));
    assert.match(block, /enableRbacAuthorization: true/);
    assert.match(block, /enableSoftDelete: true/);
    assert.match(block, /softDeleteRetentionInDays: 7\b/);
    assert.match(block, /publicNetworkAccess: 'Enabled'/);
    assert.doesNotMatch(block, /enablePurgeProtection|networkAcls/);
    assert.ok(
      said("the app's vault holds the Functions keys (Azure RBAC, soft delete for 7 days, no purge protection"),
    );
  });

  test("SSH: no rule lets it in, for any spec; the README says exactly that", () => {
    const variants = [
      spec(),
      spec({ network: { adminSourceRanges: ["203.0.113.0/24"] } }),
      spec({
        network: { adminSourceRanges: ["203.0.113.0/24"] },
        tls: {
          hostname: "jump.example.com",
          acme: { challenge: "dns-01", dnsZone: { resourceGroup: "rg-dns", name: "example.com" } },
        },
      }),
    ];
    for (const s of variants) {
      const rules = webSecurityRules(s) as { name: string; properties: Record<string, unknown> }[];
      const allows = rules.filter((r) => r.properties.access === "Allow");
      for (const r of allows) {
        const port = String(r.properties.destinationPortRange);
        assert.ok(/^\d+$/.test(port) && port !== "22", `${r.name} allows port ${port}`);
      }
      const deny = rules.find((r) => r.properties.access === "Deny")!;
      assert.equal(deny.properties.destinationPortRange, "*");
      assert.ok(Number(deny.properties.priority) < 65000, "ahead of Azure's AllowVnetInBound");
    }
    assert.ok(said("There is no SSH rule and no way to add one through the spec."));
    assert.ok(!said("SSH is closed unless"), "the old sentence promised a rule that does not exist");
  });
});
