// The string formats the app's JSON Schemas name, in one module the precompiled validators require
// (ajv standalone code refers to formats by `require("../formats").formats[name]`).
import { fullFormats } from "ajv-formats/dist/formats";
import { parseAlertTime } from "../alerts/common-alert-schema";
import { isCanonicalCidr } from "../ipv4";

export const formats = {
  uri: fullFormats.uri,
  email: fullFormats.email,
  hostname: fullFormats.hostname,
  // ajv-formats' "uuid" also accepts "urn:uuid:…", which is not a subscription id ARM accepts
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  "ipv4-cidr": { type: "string" as const, validate: isCanonicalCidr },
  "alert-date-time": { type: "string" as const, validate: (text: string) => parseAlertTime(text) !== undefined },
};
