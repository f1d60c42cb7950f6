// GET /api/openapi.json: the API's OpenAPI 3.1 document (shared/http/openapi.ts). It holds no
// secret and no stack data, so it needs no key.
import { app, type HttpResponseInit } from "@azure/functions";
import { openApiDocument } from "../../shared/http/openapi";
import { Names } from "../names";
import { json } from "./respond";

const VERSION = "0.1.0";

export async function getOpenApi(): Promise<HttpResponseInit> {
  return json(200, openApiDocument(VERSION));
}

app.http(Names.http.getOpenApi, {
  route: "openapi.json",
  methods: ["GET"],
  authLevel: "anonymous",
  handler: getOpenApi,
});
