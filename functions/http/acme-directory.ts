// PUT and plan: a spec naming a non-public ACME directory outside the sandbox is a 422.
import type { HttpResponseInit } from "@azure/functions";
import { validationProblem } from "../../shared/http/problem";
import type { StackSpec } from "../../shared/spec/types";
import { acmeDirectoryRefusal } from "../acme-directory";
import { problem } from "./respond";

export function refuseAcmeDirectory(spec: StackSpec): HttpResponseInit | undefined {
  const reason = acmeDirectoryRefusal(spec.tls.acme.directoryUrl);
  return reason ? problem(validationProblem([{ pointer: "/tls/acme/directoryUrl", detail: reason }])) : undefined;
}
