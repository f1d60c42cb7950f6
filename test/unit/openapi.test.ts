// The OpenAPI document against the routes the app really registers (every route documented, nothing
// documented that does not exist) and against the schemas the routes validate with.
import "../../emulator/durable/install";
import "../../functions";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Ajv2020 from "ajv/dist/2020";
import { fromRegistry } from "../../emulator/durable";
import { getOpenApi } from "../../functions/http/openapi";
import { COMMON_ALERT_SCHEMA } from "../../shared/alerts/common-alert-schema";
import { openApiDocument } from "../../shared/http/openapi";
import { STACK_SPEC_SCHEMA } from "../../shared/spec/schema";

type Doc = Record<string, unknown>;
const METHODS = ["get", "put", "post", "delete", "patch"];

describe("OpenAPI document", () => {
  const doc = openApiDocument("test") as { paths: Record<string, Doc>; components: { schemas: Doc } };

  test("documents exactly the registered routes and methods", () => {
    const registered = Object.values(fromRegistry().http)
      .flatMap((r) => r.methods.map((m) => `${m.toUpperCase()} /${r.route}`))
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) => METHODS.filter((m) => m in item).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(documented, registered);
  });

  test("request bodies are the schemas the routes validate with", () => {
    assert.equal(doc.components.schemas.StackSpec, STACK_SPEC_SCHEMA);
    const alerts = doc.paths["/alerts"].post as { requestBody: { content: Record<string, { schema: unknown }> } };
    assert.equal(alerts.requestBody.content["application/json"].schema, COMMON_ALERT_SCHEMA);
    // every path parameter in a path template is declared
    for (const [path, item] of Object.entries(doc.paths)) {
      const declared = ((item.parameters as { name: string }[] | undefined) ?? []).map((p) => p.name).sort();
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      assert.deepEqual(declared, inPath, path);
    }
  });

  test("the schemas compile as JSON Schema 2020-12 and the route serves the document", async () => {
    const ajv = new Ajv2020({ strict: false });
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const m of METHODS) {
        const op = item[m] as { requestBody?: { content: Record<string, { schema: Doc }> } } | undefined;
        const schema = op?.requestBody?.content["application/json"]?.schema;
        if (schema && !("$ref" in schema)) assert.doesNotThrow(() => ajv.compile(schema), `${m} ${path}`);
      }
    }
    const res = await getOpenApi();
    assert.equal(res.status, 200);
    assert.equal((res.jsonBody as Doc).openapi, "3.1.0");
  });
});
