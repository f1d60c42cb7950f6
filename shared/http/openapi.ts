// The HTTP API as an OpenAPI 3.1 document, served at GET /api/openapi.json. Request bodies are the
// very JSON Schemas the routes validate with (OpenAPI 3.1 uses JSON Schema 2020-12), so the document
// cannot drift from validation; a test checks its paths and methods against the registered routes.
import { BREAK_GLASS_REQUEST_SCHEMA } from "../access/break-glass-request";
import { COMMON_ALERT_SCHEMA } from "../alerts/common-alert-schema";
import { ROTATE_REQUEST_SCHEMA } from "../credentials/rotate-request";
import { RESUME_REQUEST_SCHEMA } from "../heal/resume-request";
import { STACK_SPEC_SCHEMA } from "../spec/schema";

const json = (schema: unknown) => ({ "application/json": { schema } });
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
});
const ok = (description: string) => ({ description, content: json({ type: "object" }) });
const accepted = {
  description: "Accepted: the operation runs; `Location` is its status URL",
  headers: { Location: { schema: { type: "string", format: "uri" } } },
  content: json({ type: "object" }),
};
const name = { name: "name", in: "path", required: true, schema: { type: "string" }, description: "stack name" };
const common = {
  "400": problem("the body is not usable JSON"),
  "404": problem("no such stack"),
  "409": problem("another operation is changing the stack (the problem names it)"),
  "413": problem("the body is too large"),
  "415": problem("the content type is not JSON"),
  "422": problem(
    "the body breaks the schema; `errors` lists each field with its JSON pointer (at most 20 entries, 16 KiB in all)",
  ),
  "500": problem("unexpected error; names a correlation id and nothing else"),
};

export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "Jumpgate",
      version,
      description:
        "Self-driving Apache Guacamole jump servers on Azure: provision, heal, scale and rotate. Errors are RFC 9457 problem+json.",
    },
    servers: [{ url: "/api" }],
    security: [{ functionKey: [] }],
    paths: {
      "/stacks": {
        get: {
          summary: "the stacks, a page at a time in name order",
          parameters: [
            {
              name: "pageSize",
              in: "query",
              required: false,
              schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
              description: "stacks per page",
            },
            {
              name: "continuationToken",
              in: "query",
              required: false,
              schema: { type: "string", maxLength: 200 },
              description: "the `continuationToken` of the previous page (opaque)",
            },
          ],
          responses: {
            "200": {
              description:
                "one page: `value` (the stacks), and `continuationToken` and `nextLink` while more stacks follow",
              content: json({
                type: "object",
                required: ["value"],
                properties: {
                  value: { type: "array", items: { type: "object" } },
                  continuationToken: { type: "string" },
                  nextLink: { type: "string", format: "uri" },
                },
              }),
            },
            "400": problem("`pageSize` out of range, or a `continuationToken` this API did not give out"),
          },
        },
      },
      "/stacks/{name}": {
        parameters: [name],
        put: {
          summary: "create or update a stack and deploy it",
          requestBody: { required: true, content: json({ $ref: "#/components/schemas/StackSpec" }) },
          responses: {
            "202": accepted,
            ...common,
            "422": problem(
              "the body breaks the schema (`validation-error`), or would move the deployed stack to another subscription, resource group or region (`stack-move`: tear it down, then deploy); `errors` lists each field",
            ),
          },
        },
        get: {
          summary: "desired spec, observed state, conditions, operations",
          responses: { "200": ok("the stack"), "404": common["404"] },
        },
        delete: {
          summary: "tear the stack down",
          responses: { "202": accepted, "404": common["404"], "409": common["409"] },
        },
      },
      "/stacks/{name}/plan": {
        parameters: [name],
        post: {
          summary: "what a deploy would change, without writing",
          requestBody: { required: false, content: json({ $ref: "#/components/schemas/StackSpec" }) },
          responses: { "200": ok("the plan"), "202": accepted, ...common },
        },
      },
      "/stacks/{name}/operations/{instanceId}": {
        parameters: [name, { name: "instanceId", in: "path", required: true, schema: { type: "string" } }],
        get: {
          summary: "status, progress and outcome of one operation",
          responses: { "200": ok("the operation"), "404": common["404"] },
        },
      },
      "/stacks/{name}/events": {
        parameters: [name],
        get: {
          summary: "the stack's audit trail, newest first (still readable after a teardown)",
          parameters: [
            {
              name: "limit",
              in: "query",
              required: false,
              schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
              description: "at most this many events",
            },
          ],
          responses: {
            "200": ok("`{stack, registered, events: [{id, time, what, why, actor, operation?, details?}]}`"),
            "404": problem("no such stack, and no audit event of that name"),
            "422": common["422"],
          },
        },
      },
      "/stacks/{name}/heal/resume": {
        parameters: [name],
        post: {
          summary: "release the fleet brake for a while and/or resume a suspended node",
          requestBody: { required: false, content: json(RESUME_REQUEST_SCHEMA) },
          responses: { "200": ok("what was released"), ...common },
        },
      },
      "/stacks/{name}/rotate/database": {
        parameters: [name],
        post: {
          summary: "rotate the database credentials now",
          requestBody: { required: false, content: json(ROTATE_REQUEST_SCHEMA) },
          responses: { "202": accepted, ...common },
        },
      },
      "/stacks/{name}/break-glass": {
        parameters: [name],
        post: {
          summary:
            "enable the local guacadmin of a stack that signs in with Entra ID for a bounded time; the answer names the Key Vault secret and version of its new password (never the value)",
          requestBody: { required: false, content: json(BREAK_GLASS_REQUEST_SCHEMA) },
          responses: {
            "202": accepted,
            ...common,
            "409": problem(
              "another operation holds the stack, a window is open already, the stack is not deployed, or it has no access section",
            ),
          },
        },
      },
      "/stacks/{name}/break-glass/close": {
        parameters: [name],
        post: {
          summary: "end the open break-glass window now: guacadmin is disabled and its password rotated",
          responses: {
            "202": accepted,
            "404": common["404"],
            "409": problem("no break-glass window is open"),
          },
        },
      },
      "/stacks/{name}/connections": {
        parameters: [name],
        get: {
          summary:
            "the connections Jumpgate made from the Azure inventory (source VM, protocol, host, port, Entra groups with READ, credential secret version), the last sync and what was skipped and why",
          responses: { "200": ok("the connections and the last sync"), "404": common["404"] },
        },
      },
      "/stacks/{name}/recordings": {
        parameters: [name],
        get: {
          summary:
            "the session recordings the stack's immutable container holds (blob, node, session, size, MD5, written, retained until), newest first, at most 1000 (`truncated` says there were more)",
          parameters: [
            { name: "user", in: "query", schema: { type: "string", maxLength: 256 } },
            { name: "connection", in: "query", schema: { type: "string", maxLength: 80 } },
            { name: "node", in: "query", schema: { type: "string", maxLength: 80 } },
            { name: "from", in: "query", schema: { type: "string", format: "date-time" } },
            { name: "to", in: "query", schema: { type: "string", format: "date-time" } },
          ],
          responses: {
            "200": ok("the recordings"),
            "400": problem("a query parameter that is unknown, repeated or not of its shape"),
            "404": common["404"],
            "409": problem("the stack has no recordings section"),
          },
        },
      },
      "/stacks/{name}/connections/sync": {
        parameters: [name],
        post: {
          summary:
            "sync the connections with the Azure inventory now (the running sync when one runs); the sync reads and compares even when nothing changed",
          responses: {
            "202": accepted,
            "404": common["404"],
            "409": problem(
              "the stack has no connections section, is not deployed, or another operation holds it (a deploy syncs at its end)",
            ),
          },
        },
      },
      "/stacks/{name}/node-image/build": {
        parameters: [name],
        post: {
          summary:
            "build the stack's node image now (the running build when one runs), e.g. after a failed build; see Node images",
          responses: {
            "200": ok("the image version exists already: nothing to build"),
            "202": accepted,
            "404": common["404"],
            "409": problem(
              "the stack keeps no node image, is not deployed, or its version name is taken by an image of another node digest",
            ),
          },
        },
      },
      "/stacks/{name}/restore-drill": {
        parameters: [name],
        post: {
          summary:
            "restore the database's latest restore point to a temporary server, read Guacamole's tables back through a web node, delete the server; the result goes to GET /stacks/{name} (restoreDrill, the RestoreDrill condition) and the audit trail",
          responses: {
            "202": accepted,
            "400": common["400"],
            "404": common["404"],
            "409": problem("a restore drill is running, the stack is not deployed, or another operation holds it"),
            "413": common["413"],
            "415": common["415"],
            "422": problem("a body other than {}: the drill takes no options"),
          },
        },
      },
      "/stacks/{name}/rotate/certificate": {
        parameters: [name],
        post: {
          summary: "issue and roll out a new certificate now",
          responses: {
            "202": accepted,
            "404": common["404"],
            "409": problem("other requests changed the stack's certificate state at the same moment; retry"),
            "429": problem("the weekly order limit is reached"),
          },
        },
      },
      "/alerts": {
        post: {
          summary: "Azure Monitor alert intake (common alert schema)",
          requestBody: { required: true, content: json(COMMON_ALERT_SCHEMA) },
          responses: {
            "202": ok("received: the signals it gave, or why it was ignored"),
            "400": problem("not a common-alert-schema notification; `errors` points at each field"),
            "413": common["413"],
            "415": common["415"],
            "503": problem("storage or the task hub is unavailable; Azure Monitor retries"),
          },
        },
      },
      "/alerts/entra": {
        post: {
          summary:
            "Azure Monitor alert intake for the secure webhook (token mode): the same as /alerts, with an Entra ID access token instead of a function key",
          security: [{ entraToken: [] }],
          requestBody: { required: true, content: json(COMMON_ALERT_SCHEMA) },
          responses: {
            "202": ok("received: the signals it gave, or why it was ignored"),
            "400": problem("not a common-alert-schema notification; `errors` points at each field"),
            "401": problem(
              "no token, or not a valid token of Azure Monitor's action groups for Jumpgate's alerts application",
            ),
            "404": problem("token mode is not configured"),
            "413": common["413"],
            "415": common["415"],
            "503": problem("storage, the task hub or the tenant's signing keys are unavailable; Azure Monitor retries"),
          },
        },
      },
      "/openapi.json": { get: { summary: "this document", security: [], responses: { "200": ok("OpenAPI 3.1") } } },
    },
    components: {
      securitySchemes: {
        functionKey: { type: "apiKey", in: "header", name: "x-functions-key" },
        entraToken: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
      },
      schemas: {
        StackSpec: STACK_SPEC_SCHEMA,
        Problem: {
          type: "object",
          required: ["type", "title", "status"],
          properties: {
            type: { type: "string" },
            title: { type: "string" },
            status: { type: "integer" },
            detail: { type: "string" },
            errors: {
              type: "array",
              items: {
                type: "object",
                properties: { pointer: { type: "string" }, detail: { type: "string" } },
              },
            },
          },
        },
      },
    },
  };
}
