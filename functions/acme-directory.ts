// The spec's ACME directory must be a public host outside the sandbox: the Function itself calls it
// and every URL it names (shared/acme/directory-host.ts says why and what counts as public). PUT and
// plan refuse such a spec with 422; the issuer refuses it too, for a spec stored before this rule.
import { nonPublicHostReason } from "../shared/acme/directory-host";
import { isSandbox } from "./services";

/** Why the directory may not be used here, or undefined. */
export function acmeDirectoryRefusal(directoryUrl: string): string | undefined {
  if (isSandbox()) return undefined;
  const why = nonPublicHostReason(directoryUrl);
  return why
    ? `tls.acme.directoryUrl must name a public ACME CA: ${why}. Jumpgate calls the directory from inside Azure, where a loopback, link-local or private host reaches the Function's own network`
    : undefined;
}
