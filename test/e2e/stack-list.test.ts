// GET /api/stacks a page at a time, through the real HTTP route (served like the Functions host
// serves it) over Azurite: pages in name order that together list every stack once, `nextLink` and
// `continuationToken` while more follow, none of the registry's alert routing index rows, and a 400
// problem+json (RFC 9457, a JSON pointer per bad parameter) for a page size out of range or a token
// that is not one of this API's, forged ones included.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { validateStackSpec } from "../../shared/spec";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";

const SUB = "00000000-0000-0000-0000-0000000a1157";
const NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"];
type Json = Record<string, unknown>;

function spec(name: string): StackSpec {
  const result = validateStackSpec({ name, subscriptionId: SUB, resourceGroup: `rg-${name}`, location: "westeurope" });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.spec;
}

/** base64url, as a client might forge a token */
const token = (text: string) => Buffer.from(text, "utf8").toString("base64url");

describe("GET /api/stacks, paged", () => {
  let env: JumpgateEnv;

  async function get(query: string): Promise<{ status: number; type: string | null; json: Json }> {
    const res = await fetch(`${env.api}/stacks${query}`);
    return { status: res.status, type: res.headers.get("content-type"), json: (await res.json()) as Json };
  }
  const names = (page: Json) => (page.value as { name: string }[]).map((s) => s.name);

  before(async () => {
    env = await startJumpgateEnv({ http: true, realTime: { timeScale: 50 } });
    // registered in an order of their own; each write also writes the stack's alert routing row
    for (const name of [...NAMES].reverse()) await env.registry.putDesired(name, spec(name));
    await env.registry.backfillRoutes(await env.registry.list());
  });

  after(async () => {
    await env?.stop();
  });

  test("one page by default, in name order, without a token", async () => {
    const page = await get("");
    assert.equal(page.status, 200, JSON.stringify(page.json));
    assert.deepEqual(names(page.json), NAMES);
    assert.equal(page.json.continuationToken, undefined);
    assert.equal(page.json.nextLink, undefined);
  });

  test("small pages list every stack once, in order, following nextLink; no index row shows", async () => {
    const seen: string[] = [];
    const sizes: number[] = [];
    let url: string | undefined = `${env.api}/stacks?pageSize=3`;
    while (url) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      const page = (await res.json()) as Json;
      sizes.push(names(page).length);
      seen.push(...names(page));
      if (page.nextLink) {
        const next = new URL(page.nextLink);
        assert.equal(next.searchParams.get("continuationToken"), page.continuationToken);
        assert.equal(next.searchParams.get("pageSize"), "3");
      }
      url = page.nextLink as string | undefined;
    }
    assert.deepEqual(sizes, [3, 3, 1]);
    assert.deepEqual(seen, NAMES);
    // the same pages by the token alone
    const first = await get("?pageSize=3");
    const second = await get(`?pageSize=3&continuationToken=${first.json.continuationToken as string}`);
    assert.deepEqual(names(second.json), ["delta", "echo", "foxtrot"]);
    // the largest page there is
    assert.deepEqual(names((await get("?pageSize=1000")).json), NAMES);
    assert.deepEqual(names((await get("?pageSize=1")).json), ["alpha"]);
  });

  test("a page that ends at the last stack has no continuation, though index rows follow it in the table", async () => {
    const exact = await get(`?pageSize=${NAMES.length}`);
    assert.deepEqual(names(exact.json), NAMES);
    assert.equal(exact.json.continuationToken, undefined, "no token that would lead to an empty page");
    assert.equal(exact.json.nextLink, undefined);
    const oneShort = await get(`?pageSize=${NAMES.length - 1}`);
    assert.deepEqual(names(oneShort.json), NAMES.slice(0, -1));
    const last = await get(
      `?pageSize=${NAMES.length - 1}&continuationToken=${oneShort.json.continuationToken as string}`,
    );
    assert.deepEqual(names(last.json), ["golf"]);
    assert.equal(last.json.continuationToken, undefined);
  });

  test("a stack registered or removed between pages: each page still starts after the last name seen", async () => {
    const first = await get("?pageSize=2");
    assert.deepEqual(names(first.json), ["alpha", "bravo"]);
    await env.registry.putDesired("bravo2", spec("bravo2")); // sorts right after the page's end
    await env.registry.delete("charlie");
    try {
      const second = await get(`?pageSize=2&continuationToken=${first.json.continuationToken as string}`);
      assert.deepEqual(names(second.json), ["bravo2", "delta"], "no stack repeated, none skipped that still exists");
    } finally {
      await env.registry.delete("bravo2");
      await env.registry.putDesired("charlie", spec("charlie"));
    }
  });

  test("a page size out of range is a 400 problem naming the parameter", async () => {
    for (const bad of ["0", "1001", "-1", "2.5", "ten", "", "1e3x"]) {
      const res = await get(`?pageSize=${encodeURIComponent(bad)}`);
      assert.equal(res.status, 400, `pageSize=${bad}: ${JSON.stringify(res.json)}`);
      assert.equal(res.type, "application/problem+json");
      assert.equal(res.json.type, "https://jumpgate.dev/problems/invalid-query-parameter");
      assert.deepEqual(
        (res.json.errors as { pointer: string }[]).map((e) => e.pointer),
        ["/query/pageSize"],
      );
    }
  });

  test("a token that is not one of this API's is a 400 problem; a forged one never reaches the index rows", async () => {
    const bad = [
      "!!!",
      "%00",
      token("v2:bravo"), // another version
      token("bravo"), // no version
      token("v1:Bravo"), // not a stack name
      token("v1:~rg:00000000-0000-0000-0000-0000000a1157:rg-alpha:alpha"), // the alert routing index
      token("v1:~index"),
      token("v1:") + "A", // not canonical base64url
      "A".repeat(201),
    ];
    for (const t of bad) {
      const res = await get(`?continuationToken=${encodeURIComponent(t)}`);
      assert.equal(res.status, 400, `token ${t}: ${JSON.stringify(res.json)}`);
      assert.equal(res.type, "application/problem+json");
      assert.deepEqual(
        (res.json.errors as { pointer: string }[]).map((e) => e.pointer),
        ["/query/continuationToken"],
      );
    }
    const empty = await get("?continuationToken=");
    assert.equal(empty.status, 400);
    // both wrong: one problem, both pointers
    const both = await get(`?pageSize=0&continuationToken=${token("v9:x")}`);
    assert.deepEqual(
      (both.json.errors as { pointer: string }[]).map((e) => e.pointer),
      ["/query/pageSize", "/query/continuationToken"],
    );
    // a token of the API's form made up by hand is only a position in name order
    const forged = await get(`?continuationToken=${token("v1:charlie")}`);
    assert.equal(forged.status, 200);
    assert.deepEqual(names(forged.json), ["delta", "echo", "foxtrot", "golf"]);
    const past = await get(`?continuationToken=${token("v1:zulu")}`);
    assert.deepEqual(names(past.json), [], "after the last name: an empty page, not the index rows");
    assert.equal(past.json.continuationToken, undefined);
  });
});
