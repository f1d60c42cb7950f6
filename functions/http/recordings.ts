// GET /api/stacks/{name}/recordings?user=&connection=&node=&from=&to=
// Which session recordings the stack's container holds: each one's blob, node, session (Guacamole's
// history entry), size, MD5, when it was written and until when it is retained, and the session's
// user and connection (blob metadata the node's uploader wrote from Guacamole's history row,
// percent-encoded; decoded by shared/recordings/listing.ts). Read from the
// container itself (a blob listing through the app's identity, which holds Storage Blob Data Reader
// on it and nothing that writes), so it also shows recordings of nodes that no longer exist.
// 400 problem+json for any query parameter that is unknown, repeated or not of its shape; 409 for a
// stack without `recordings`.
import { app, type HttpRequest, type HttpResponseInit } from "@azure/functions";
import { stackNames } from "../../shared/graph/names";
import { recordingContainerUrl, recordingStorageIds } from "../../shared/graph/recordings-graph";
import { invalidQueryProblem, notFoundProblem, problemTypeUri } from "../../shared/http/problem";
import {
  parseRecordingsQuery,
  recordingEntries,
  type ListedRecordingBlob,
  type RecordingsQuery,
} from "../../shared/recordings/listing";
import type { StackSpec } from "../../shared/spec/types";
import { Names } from "../names";
import { services } from "../services";
import { guarded, json, problem, routeStackName } from "./respond";

/** The container's URL as the app reads it (the tests point the endpoint at Azurite). */
export function recordingsContainerUrlOf(spec: StackSpec): string {
  const account = recordingStorageIds(spec, stackNames(spec)).account;
  const endpoint = services().recordingsEndpoint;
  return endpoint
    ? `${endpoint.replace("{account}", account).replace(/\/$/, "")}/recordings`
    : recordingContainerUrl(account);
}

export async function listRecordings(request: HttpRequest): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const parsed = parseRecordingsQuery(request.query);
  if (!parsed.ok)
    return problem(invalidQueryProblem([{ pointer: `/query/${parsed.parameter}`, detail: parsed.detail }]));
  const stack = route.name;
  const record = await services().registry.get(stack);
  if (!record) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  const recordings = record.spec.recordings;
  if (!recordings) {
    return problem({
      type: problemTypeUri("recordings-not-configured"),
      title: "The stack does not record sessions",
      status: 409,
      detail: `stack '${stack}' has no recordings in its spec`,
    });
  }
  const blobs = await listBlobs(recordingsContainerUrlOf(record.spec), parsed.query);
  const { recordings: entries, truncated } = recordingEntries(blobs, recordings.retentionDays, parsed.query);
  return json(200, { stack, retentionDays: recordings.retentionDays, recordings: entries, truncated });
}

/** Every blob under the node's prefix (or all), with metadata; a missing container is an empty list. */
async function listBlobs(containerUrl: string, query: RecordingsQuery): Promise<ListedRecordingBlob[]> {
  const container = services().factory.container(containerUrl);
  const out: ListedRecordingBlob[] = [];
  try {
    const pages = container
      .listBlobsFlat({ includeMetadata: true, ...(query.node ? { prefix: `${query.node}/` } : {}) })
      .byPage({ maxPageSize: 5000 });
    for await (const page of pages) {
      for (const b of page.segment.blobItems) {
        out.push({
          name: b.name,
          size: b.properties.contentLength ?? 0,
          createdOn: b.properties.createdOn ?? b.properties.lastModified,
          ...(b.properties.contentMD5 ? { contentMd5: Buffer.from(b.properties.contentMD5).toString("base64") } : {}),
          metadata: b.metadata ?? {},
        });
      }
    }
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return [];
    throw e;
  }
  return out;
}

app.http(Names.http.listRecordings, {
  route: "stacks/{name}/recordings",
  methods: ["GET"],
  authLevel: "function",
  handler: guarded(listRecordings),
});
