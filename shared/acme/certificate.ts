// Reading certificates and TLS bundles without a third-party X.509 library: node's X509Certificate
// for the fields, and a few lines of DER walking for the one extension it does not expose (the
// authority key identifier, which RFC 9773 renewal information needs). Everything here is pure.
//
// A bundle is what Key Vault's `tls-bundle` secret holds and the node agent installs: the private
// key PEM followed by the certificate chain (leaf first). Only metadata ever leaves these functions;
// the key is checked against the leaf and never returned or put into an error message.
import { createPrivateKey, X509Certificate } from "node:crypto";

/** What Jumpgate keeps and shows of a certificate: never the key. */
export interface CertificateFacts {
  /** uppercase hex without leading zeros or colons (how `openssl x509 -serial` prints it, minus zeros) */
  serial: string;
  notBefore: string;
  notAfter: string;
  /** DNS names of the subject alternative name extension */
  dnsNames: string[];
  /** the issuer's distinguished name, one line */
  issuer: string;
  /** RFC 9773 certificate identifier (base64url(AKI keyIdentifier) "." base64url(serial)), when the AKI is present */
  ariCertId?: string;
}

export class BundleError extends Error {
  override name = "BundleError";
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PEM_KEY = /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:EC |RSA )?PRIVATE KEY-----/;

/** The certificates of a PEM text, in order. */
export function certificatesOf(pem: string): X509Certificate[] {
  return (pem.match(PEM_CERT) ?? []).map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new BundleError(`certificate ${i + 1} of the chain is not readable`);
    }
  });
}

/** Serial numbers compared the same way everywhere: uppercase hex, no colons, no leading zeros. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[^0-9a-f]/gi, "").toUpperCase();
  return hex.replace(/^0+(?=.)/, "");
}

export function certificateFacts(cert: X509Certificate): CertificateFacts {
  const aki = authorityKeyIdentifier(cert.raw);
  return {
    serial: normalizeSerial(cert.serialNumber),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    dnsNames: dnsNamesOf(cert),
    issuer: cert.issuer.replace(/\n/g, ", "),
    ...(aki ? { ariCertId: ariCertId(aki, cert.serialNumber) } : {}),
  };
}

export function dnsNamesOf(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? "";
  return san
    .split(/,\s*/)
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4).toLowerCase());
}

/** Whether a certificate's DNS names cover `host` (exact, or one wildcard label). */
export function coversHost(facts: Pick<CertificateFacts, "dnsNames">, host: string): boolean {
  const h = host.toLowerCase();
  return facts.dnsNames.some(
    (n) => n === h || (n.startsWith("*.") && h.endsWith(n.slice(1)) && !h.slice(0, -n.length + 1).includes(".")),
  );
}

export interface BundleCheck {
  /** leaf facts */
  leaf: CertificateFacts;
  /** how many certificates the chain holds (leaf included) */
  chainLength: number;
}

/**
 * Checks a bundle (key + chain) before it is stored: the key matches the leaf, each certificate is
 * signed by the next one, the leaf covers `host` and is valid at `now`. Throws BundleError with a
 * reason that never includes key material.
 */
export function checkBundle(bundle: string, host: string, now: Date): BundleCheck {
  const keyPem = PEM_KEY.exec(bundle)?.[0];
  if (!keyPem) throw new BundleError("the bundle has no private key");
  const chain = certificatesOf(bundle);
  if (chain.length === 0) throw new BundleError("the bundle has no certificate");
  const leaf = chain[0];
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new BundleError("the bundle's private key is not readable");
  }
  if (!leaf.checkPrivateKey(key)) throw new BundleError("the private key does not match the certificate");
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].verify(chain[i + 1].publicKey)) {
      throw new BundleError(`certificate ${i + 1} of the chain is not signed by certificate ${i + 2}`);
    }
  }
  const facts = certificateFacts(leaf);
  if (!coversHost(facts, host)) {
    throw new BundleError(`the certificate is for ${facts.dnsNames.join(", ") || "no DNS name"}, not ${host}`);
  }
  if (Date.parse(facts.notAfter) <= now.getTime())
    throw new BundleError(`the certificate expired at ${facts.notAfter}`);
  if (Date.parse(facts.notBefore) > now.getTime() + 5 * 60_000) {
    throw new BundleError(`the certificate is not valid before ${facts.notBefore}`);
  }
  return { leaf: facts, chainLength: chain.length };
}

// ------------------------------------------------------------------------------ RFC 9773 (ARI)

/**
 * The certificate identifier of RFC 9773 §4.1: base64url of the authority key identifier's
 * keyIdentifier, ".", base64url of the serial number's DER integer contents (with the leading zero
 * byte DER needs when the high bit is set).
 */
export function ariCertId(keyIdentifier: Buffer, serialHex: string): string {
  let hex = serialHex.replace(/[^0-9a-f]/gi, "");
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, "hex");
  // minimal DER integer: drop redundant leading zeros, keep one when the next byte's high bit is set
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1] & 0x80) === 0) bytes = bytes.subarray(1);
  if (bytes.length > 0 && (bytes[0] & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return `${keyIdentifier.toString("base64url")}.${bytes.toString("base64url")}`;
}

/** OID 2.5.29.35 (authorityKeyIdentifier), DER-encoded with its tag and length. */
const AKI_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);

/** The keyIdentifier of a certificate's authority key identifier extension, if it has one. */
export function authorityKeyIdentifier(der: Buffer): Buffer | undefined {
  const at = der.indexOf(AKI_OID);
  if (at < 0) return undefined;
  let p = at + AKI_OID.length;
  // optional `critical BOOLEAN`
  if (der[p] === 0x01) p = skip(der, p);
  if (der[p] !== 0x04) return undefined; // extnValue OCTET STRING
  const octets = header(der, p);
  if (!octets) return undefined;
  p = octets.content;
  if (der[p] !== 0x30) return undefined; // AuthorityKeyIdentifier SEQUENCE
  const seq = header(der, p);
  if (!seq) return undefined;
  p = seq.content;
  if (der[p] !== 0x80) return undefined; // [0] keyIdentifier, implicit
  const id = header(der, p);
  if (!id) return undefined;
  return Buffer.from(der.subarray(id.content, id.content + id.length));
}

function header(der: Buffer, p: number): { content: number; length: number } | undefined {
  let q = p + 1;
  const first = der[q++];
  if (first === undefined) return undefined;
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) return undefined;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[q++];
  }
  if (q + length > der.length) return undefined;
  return { content: q, length };
}

function skip(der: Buffer, p: number): number {
  const h = header(der, p);
  return h ? h.content + h.length : der.length;
}
