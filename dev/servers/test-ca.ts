// A throwaway certificate authority made with the real openssl binary, for servers the tests start
// (MariaDB's TLS, the certificates the node agent installs into NGINX). Keys stay in the test's
// temporary directory; nothing is committed.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export interface IssuedCertificate {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  /** uppercase hex, as `openssl x509 -serial` prints it */
  serial: string;
}

export interface IssueOptions {
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  days?: number;
  /** an intermediate CA instead of a server certificate */
  ca?: boolean;
}

export class TestCa {
  private constructor(
    readonly dir: string,
    readonly name: string,
    readonly certPath: string,
    readonly keyPath: string,
  ) {}

  get certPem(): string {
    return fs.readFileSync(this.certPath, "utf8");
  }

  /** A self-signed root CA in `dir`. */
  static create(dir: string, name = "Jumpgate test CA"): TestCa {
    fs.mkdirSync(dir, { recursive: true });
    const slug = slugOf(name);
    const keyPath = path.join(dir, `${slug}.key`);
    const certPath = path.join(dir, `${slug}.pem`);
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyPath]);
    openssl([
      "req",
      "-x509",
      "-new",
      "-key",
      keyPath,
      "-out",
      certPath,
      "-days",
      "30",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    return new TestCa(dir, name, certPath, keyPath);
  }

  /** An intermediate CA signed by this one. */
  intermediate(name: string): TestCa {
    const issued = this.issue({ commonName: name, ca: true, days: 20 });
    return new TestCa(this.dir, name, issued.certPath, issued.keyPath);
  }

  issue(options: IssueOptions): IssuedCertificate {
    const slug = `${slugOf(options.commonName)}-${randomBytes(4).toString("hex")}`;
    const keyPath = path.join(this.dir, `${slug}.key`);
    const csrPath = path.join(this.dir, `${slug}.csr`);
    const certPath = path.join(this.dir, `${slug}.pem`);
    const extPath = path.join(this.dir, `${slug}.ext`);
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyPath]);
    openssl(["req", "-new", "-key", keyPath, "-out", csrPath, "-subj", `/CN=${options.commonName}`]);
    const names = [
      ...(options.dnsNames ?? []).map((n) => `DNS:${n}`),
      ...(options.ipAddresses ?? []).map((ip) => `IP:${ip}`),
    ];
    const ext = options.ca
      ? ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign,cRLSign"]
      : [
          "basicConstraints=critical,CA:FALSE",
          "keyUsage=critical,digitalSignature,keyEncipherment",
          "extendedKeyUsage=serverAuth",
          ...(names.length ? [`subjectAltName=${names.join(",")}`] : []),
        ];
    fs.writeFileSync(extPath, ext.join("\n") + "\n");
    openssl([
      "x509",
      "-req",
      "-in",
      csrPath,
      "-CA",
      this.certPath,
      "-CAkey",
      this.keyPath,
      "-set_serial",
      `0x${randomBytes(12)
        .toString("hex")
        .replace(/^[89a-f]/, "1")}`,
      "-days",
      String(options.days ?? 10),
      "-extfile",
      extPath,
      "-out",
      certPath,
    ]);
    const serial = openssl(["x509", "-in", certPath, "-noout", "-serial"])
      .trim()
      .replace(/^serial=/, "");
    return {
      certPath,
      keyPath,
      certPem: fs.readFileSync(certPath, "utf8"),
      keyPem: fs.readFileSync(keyPath, "utf8"),
      serial,
    };
  }
}

function slugOf(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

function openssl(args: string[]): string {
  return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
}
