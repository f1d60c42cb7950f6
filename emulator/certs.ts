// A throwaway PKI for the emulator: one CA the tests trust and one server certificate for
// 127.0.0.1/localhost signed by it. Generated per process (nothing secret is committed) with
// WebCrypto + @peculiar/x509, so no openssl binary is needed.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as x509 from "@peculiar/x509";

export interface TestPki {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** the CA written to disk, for processes that take a path (NODE_EXTRA_CA_CERTS, curl --cacert) */
  caPath: string;
}

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END ${label}-----\n`;
}

export async function createTestPki(dir?: string): Promise<TestPki> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 365 * 24 * 3600_000);

  const caKeys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: "CN=Jumpgate emulator test CA",
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });

  const leafKeys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: "CN=localhost",
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
      ]),
    ],
  });

  const keyDer = await webcrypto.subtle.exportKey("pkcs8", leafKeys.privateKey);
  const caPem = ca.toString("pem") + "\n";
  const certDir = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-emulator-ca-"));
  fs.mkdirSync(certDir, { recursive: true });
  const caPath = path.join(certDir, "ca.pem");
  fs.writeFileSync(caPath, caPem);
  return { caPem, certPem: leaf.toString("pem") + "\n", keyPem: toPem(keyDer, "PRIVATE KEY"), caPath };
}

function randomSerial(): string {
  // positive 16-byte serial (leading nibble kept below 8)
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  return Buffer.from(bytes).toString("hex");
}
